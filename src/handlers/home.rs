//! `GET /`: the home page. Reading a page never creates a session.

use crate::app::App;
use crate::error::Error;
use crate::handlers::{page_with_notice, Request};
use crate::http::response::Response;
use crate::pages;

/// The page for the session, with the notice the request carries (after a
/// logout: "You have signed out."), shown once: the answer clears it.
pub async fn get(app: &App, request: &Request<'_>) -> Result<Response, Error> {
    page_with_notice(app, request, pages::home).await
}
