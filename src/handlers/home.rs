//! `GET /`: the home page. Reading a page never creates a session.

use std::sync::Arc;

use hyper::http::request::Parts;
use hyper::StatusCode;

use crate::app::App;
use crate::error::Error;
use crate::handlers::viewer;
use crate::http::{html, Response};
use crate::pages;

pub async fn get(app: &Arc<App>, parts: &Parts) -> Result<Response, Error> {
    let session = app.session(&parts.headers).await?;
    Ok(html(StatusCode::OK, pages::home(&viewer(session.as_ref()))))
}
