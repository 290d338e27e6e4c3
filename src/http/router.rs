//! Routing: a pure function from method and path to what should answer.
//! No I/O here, so every rule is testable as a table.

use hyper::Method;

/// What answers a request.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Route {
    Home,
    Healthz,
    LoginForm,
    Login,
    Account,
    Logout,
    Theme,
    /// `GET /_trace`: this browser's recent requests, traced (only with
    /// `--trace`: without it the path is like any other, `service` sees
    /// to that).
    Trace,
    /// Any other path: a file under the www dir, or 404.
    Static,
    /// `OPTIONS` on a known path: 204 with this `Allow` value.
    Options(&'static str),
    /// A known path, a method it does not take: 405 with this `Allow` value.
    MethodNotAllowed(&'static str),
}

/// The application's own paths, each with the route a GET (or HEAD) and a
/// POST go to, and the `Allow` value that lists its methods (RFC 9110
/// §10.2.1). GET implies HEAD (RFC 9110 §9.3.2).
const ENDPOINTS: &[(&str, Option<Route>, Option<Route>, &str)] = &[
    ("/", Some(Route::Home), None, "GET, HEAD, OPTIONS"),
    ("/healthz", Some(Route::Healthz), None, "GET, HEAD, OPTIONS"),
    (
        "/login",
        Some(Route::LoginForm),
        Some(Route::Login),
        "GET, HEAD, POST, OPTIONS",
    ),
    ("/account", Some(Route::Account), None, "GET, HEAD, OPTIONS"),
    ("/logout", None, Some(Route::Logout), "POST, OPTIONS"),
    ("/theme", None, Some(Route::Theme), "POST, OPTIONS"),
    (TRACE_PATH, Some(Route::Trace), None, "GET, HEAD, OPTIONS"),
];

/// Where a browser sees its own recent requests traced, with `--trace`.
pub const TRACE_PATH: &str = "/_trace";

/// Why `path` takes only the methods it does, in words for a person: what
/// `--trace` says beside a 405.
pub fn why_only(path: &str) -> &'static str {
    match path {
        "/logout" => {
            "signing out changes state, and a GET must not (RFC 9110 §9.2.1): a link, a \
             prefetch or an <img> on another site could sign you out. The Sign out button \
             sends a POST."
        }
        "/theme" => "choosing a theme changes the session, so it is a form's POST, never a GET.",
        "/login" => "GET shows the form and POST signs in; nothing else is defined.",
        _ => "a page is only read: GET, and HEAD for its headers alone.",
    }
}

/// Routes `method` and `path` (the path without its query).
///
/// 1. A path latch does not own is static: the www dir decides.
/// 2. `OPTIONS` answers with the path's methods (RFC 9110 §9.3.7).
/// 3. A method the path takes goes to its handler; HEAD goes wherever GET
///    goes, and the body is dropped on the way out.
/// 4. Any other method is 405 with `Allow` (RFC 9110 §15.5.6).
pub fn route(method: &Method, path: &str) -> Route {
    // 1.
    let Some(&(_, get, post, allow)) = ENDPOINTS.iter().find(|e| e.0 == path) else {
        return Route::Static;
    };
    let routed = match *method {
        // 2.
        Method::OPTIONS => return Route::Options(allow),
        // 3.
        Method::GET | Method::HEAD => get,
        Method::POST => post,
        _ => None,
    };
    // 4.
    routed.unwrap_or(Route::MethodNotAllowed(allow))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_as_a_table() {
        const POST_ONLY: Route = Route::MethodNotAllowed("POST, OPTIONS");
        let table = [
            // 3. A method the path takes goes to its handler; HEAD as GET.
            ("GET", "/", Route::Home),
            ("HEAD", "/", Route::Home),
            ("GET", "/healthz", Route::Healthz),
            ("GET", "/login", Route::LoginForm),
            ("HEAD", "/login", Route::LoginForm),
            ("POST", "/login", Route::Login),
            ("GET", "/account", Route::Account),
            ("POST", "/logout", Route::Logout),
            ("POST", "/theme", Route::Theme),
            ("GET", "/_trace", Route::Trace),
            ("HEAD", "/_trace", Route::Trace),
            // 2. and 4. `/logout` takes only POST.
            ("OPTIONS", "/logout", Route::Options("POST, OPTIONS")),
            ("GET", "/logout", POST_ONLY),
            ("HEAD", "/logout", POST_ONLY),
            ("PUT", "/logout", POST_ONLY),
            ("DELETE", "/logout", POST_ONLY),
            ("PATCH", "/logout", POST_ONLY),
            ("BREW", "/logout", POST_ONLY),
            ("POST", "/", Route::MethodNotAllowed("GET, HEAD, OPTIONS")),
            (
                "DELETE",
                "/login",
                Route::MethodNotAllowed("GET, HEAD, POST, OPTIONS"),
            ),
            // 1. Any other path is static, whatever the method.
            ("GET", "/style.css", Route::Static),
            ("GET", "/logout/", Route::Static),
            ("GET", "/LOGOUT", Route::Static),
            ("GET", "/login.html", Route::Static),
            ("GET", "//", Route::Static),
            ("GET", "/healthz/x", Route::Static),
            ("POST", "/nope", Route::Static),
        ];
        for (method, path, want) in table {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            assert_eq!(route(&method, path), want, "{method} {path}");
        }
    }
}
