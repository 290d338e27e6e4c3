//! The HTML latch renders itself, carried inside the binary so the pages
//! work with no www dir at all. Every value that came from a request or a
//! user passes through `escape_html` on its way in. The error page, with
//! what it says for each error, is in `error`.

pub mod error;
pub mod trace;

use std::fmt::{self, Write};

use crate::http::dates;
use crate::sessions::Record;

/// Who is looking at a page, as the page needs to know it.
pub struct Viewer<'a> {
    /// The signed-in user's name.
    pub user: Option<&'a str>,
    /// The session's CSRF token, echoed in every form that changes state.
    pub csrf: Option<&'a str>,
    /// `light` or `dark`; `auto` follows the browser's preference.
    pub theme: &'static str,
    /// A one-time notice to show above the page (see `http::notice`).
    pub notice: Option<&'static str>,
}

impl<'a> Viewer<'a> {
    /// What a page needs to know about a session's record (`None`: no
    /// session). The caller has already dropped a sign-in that no longer
    /// stands.
    pub fn of(record: Option<&'a Record>) -> Viewer<'a> {
        Viewer {
            user: record.and_then(|r| r.user()),
            csrf: record.and_then(|r| r.csrf_token()),
            theme: record.and_then(|r| r.theme()).unwrap_or("auto"),
            notice: None,
        }
    }
}

/// Escapes the five characters that can end an HTML text node or a quoted
/// attribute value (OWASP XSS Prevention Cheat Sheet, rule #1 and #2), as it
/// is written into the page: `write!(page, "{}", escape_html(name))` copies
/// `name` once, with no string of its own in between.
pub fn escape_html(text: &str) -> impl fmt::Display + '_ {
    fmt::from_fn(move |out| {
        let mut rest = text;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            out.write_str(&rest[..at])?;
            out.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#x27;",
            })?;
            rest = &rest[at + 1..];
        }
        out.write_str(rest)
    })
}

/// The frame every page shares: head, navigation bar, then `main`, which
/// opens with the notice when there is one. The page is written into one
/// string, sized for the largest page up front: `main` writes its part in
/// place. (Strings grown piece by piece and then copied into the frame
/// cost an allocation each, and, once past a kilobyte, a lock inside the
/// allocator that the other threads wait on.)
pub fn layout(title: &str, viewer: &Viewer, main: impl FnOnce(&mut String)) -> String {
    let mut page = String::with_capacity(PAGE_CAPACITY);
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\" data-theme=\"{theme}\">\n<head>\n\
         <meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · latch</title>\n\
         <link rel=\"stylesheet\" href=\"/style.css\">\n\
         <link rel=\"icon\" href=\"/favicon.svg\">\n\
         </head>\n<body>\n<header>\n<a class=\"brand\" href=\"/\">latch</a>\n",
        theme = escape_html(viewer.theme),
        title = escape_html(title),
    );
    nav(&mut page, viewer);
    page.push_str("</header>\n<main>\n");
    if let Some(text) = viewer.notice {
        let _ = writeln!(
            page,
            "<p class=\"notice\" role=\"status\">{}</p>",
            escape_html(text)
        );
    }
    main(&mut page);
    page.push_str("</main>\n</body>\n</html>\n");
    page
}

/// Room for the largest of latch's own pages (the account page is 1.8 KiB);
/// a trace page grows past it as it needs.
const PAGE_CAPACITY: usize = 2048;

/// The navigation bar: who is signed in, their account and the one
/// "Sign out" button, on every page (OWASP: logout reachable from every
/// page), or a sign-in link. Logout is a form posting to `/logout`, never a
/// link: a GET must not change state (RFC 9110 §9.2.1), and a link can be
/// followed by prefetchers, crawlers and `<img src>` on other sites.
fn nav(page: &mut String, viewer: &Viewer) {
    let Some(user) = viewer.user else {
        page.push_str("<nav><a href=\"/login\">Sign in</a></nav>\n");
        return;
    };
    let _ = write!(
        page,
        "<nav>\n<span>Signed in as <strong>{}</strong></span>\n\
         <a href=\"/account\">Account</a>\n",
        escape_html(user),
    );
    sign_out_form(page, viewer, "logout");
    page.push_str("</nav>\n");
}

/// The "Sign out" button: a form posting the session's CSRF token to
/// `/logout` (the contract's "Logout", steps 1 and 2). `id` tells one
/// button from another on a page.
pub(crate) fn sign_out_form(page: &mut String, viewer: &Viewer, id: &str) {
    let _ = writeln!(
        page,
        "<form method=\"post\" action=\"/logout\">{token}\
         <button type=\"submit\" id=\"{id}\">Sign out</button></form>",
        token = hidden("csrf_token", viewer.csrf),
    );
}

/// A form's hidden field, its value escaped (nothing without a value): the
/// session's CSRF token, or where to go back to.
fn hidden<'a>(name: &'a str, value: Option<&'a str>) -> impl fmt::Display + 'a {
    fmt::from_fn(move |out| match value {
        Some(value) => write!(
            out,
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape_html(value)
        ),
        None => Ok(()),
    })
}

/// The theme switcher: one button per choice posting to `/theme`, back to
/// `next`; the current choice is marked pressed. "Auto" removes the stored
/// choice, so the page follows the device's light or dark setting again.
fn theme_form(page: &mut String, viewer: &Viewer, next: &str) {
    let _ = write!(
        page,
        "<form method=\"post\" action=\"/theme\" class=\"theme\">{}{}\n<span>Theme</span>\n",
        hidden("csrf_token", viewer.csrf),
        hidden("next", Some(next)),
    );
    for (choice, label) in [("light", "Light"), ("dark", "Dark"), ("auto", "Auto")] {
        let pressed = choice == viewer.theme;
        let _ = writeln!(
            page,
            "<button type=\"submit\" name=\"theme\" value=\"{choice}\" aria-pressed=\"{pressed}\">{label}</button>"
        );
    }
    page.push_str("</form>\n");
}

/// `GET /`.
pub fn home(viewer: &Viewer) -> String {
    layout("Home", viewer, |page| {
        page.push_str("<h1>latch</h1>\n");
        match viewer.user {
            Some(user) => {
                let _ = writeln!(
                    page,
                    "<p>You are signed in as <strong>{}</strong>. See <a href=\"/account\">your account</a>.</p>",
                    escape_html(user)
                );
            }
            None => {
                page.push_str("<p>You are not signed in. <a href=\"/login\">Sign in</a>.</p>\n")
            }
        }
        page.push_str(
            "<p>Your browser holds only a random session id; what the session remembers,\n\
             such as the theme below, stays on the server, signed in or not.</p>\n",
        );
        theme_form(page, viewer, "/");
    })
}

/// `GET /login`, a failed `POST /login` and a throttled one: the form,
/// carrying the safe `next` through and saying why it is shown when a page
/// sent the visitor here, with a message (wrong password, too many tries)
/// when there is one.
pub fn login(viewer: &Viewer, next: Option<&str>, username: &str, error: Option<&str>) -> String {
    layout("Sign in", viewer, |page| {
        page.push_str("<h1>Sign in</h1>\n");
        if let Some(why) = why_sign_in(next) {
            let _ = writeln!(page, "<p>{why}</p>");
        }
        if let Some(error) = error {
            let _ = writeln!(
                page,
                "<p class=\"error\" role=\"alert\">{}</p>",
                escape_html(error)
            );
        }
        page.push_str("<form method=\"post\" action=\"/login\" class=\"sign-in\">\n");
        if next.is_some() {
            let _ = writeln!(page, "{}", hidden("next", next));
        }
        let _ = write!(
            page,
            "<label for=\"username\">User name</label>\n\
             <input type=\"text\" id=\"username\" name=\"username\" value=\"{}\" \
             autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required autofocus>\n\
             <label for=\"password\">Password</label>\n\
             <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\n\
             <button type=\"submit\">Sign in</button>\n</form>\n",
            escape_html(username),
        );
    })
}

/// Why the form is shown, when a page sent the visitor here (`next`): a
/// person who clicked "Account" and got a form should not have to guess.
fn why_sign_in(next: Option<&str>) -> Option<&'static str> {
    let path = next?.split(['?', '#']).next()?;
    Some(match path {
        "/account" => "Sign in to see your account.",
        _ => "Sign in to see the page you asked for.",
    })
}

/// `GET /account`: the protected page. The one "Sign out" is in the
/// navigation bar; this page adds "Sign out everywhere" (`scope=all`).
pub fn account(viewer: &Viewer, user: &str, signed_in_at: Option<u64>) -> String {
    layout("Account", viewer, |page| {
        let _ = write!(
            page,
            "<h1>Your account</h1>\n<dl>\n<dt>User</dt><dd id=\"user\">{}</dd>\n\
             <dt>Signed in</dt><dd id=\"signed-in-at\">",
            escape_html(user)
        );
        match signed_in_at {
            Some(unix) => {
                let _ = write!(
                    page,
                    "<time datetime=\"{}\">{}</time>",
                    dates::iso8601(unix),
                    dates::readable(unix)
                );
            }
            None => page.push('-'),
        }
        let _ = write!(
            page,
            "</dd>\n</dl>\n\
             <p>After you sign out, Back will not show this page again: your browser is told\n\
             never to keep a copy of it.</p>\n\
             <h2>Other devices</h2>\n\
             <p>Signed in on another computer or phone too? This ends every sign-in of yours,\n\
             this one included.</p>\n\
             <form method=\"post\" action=\"/logout\">{}\
             <input type=\"hidden\" name=\"scope\" value=\"all\">\
             <button type=\"submit\" id=\"logout-all\">Sign out everywhere</button></form>\n",
            hidden("csrf_token", viewer.csrf),
        );
        theme_form(page, viewer, "/account");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(
            escape_html(r#"<script>alert("x&y")</script>'"#).to_string(),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#x27;"
        );
    }

    /// A hostile user name on every page is `tests/login.rs`'s.
    #[test]
    fn what_a_page_echoes_is_escaped_and_the_login_message_is_an_alert() {
        let page = home(&Viewer {
            user: Some("alice"),
            csrf: Some("\"><script>"),
            ..Viewer::of(None)
        });
        assert!(!page.contains("\"><script>") && page.contains("&quot;&gt;&lt;script&gt;"));
        let next = Some("/a\"><script>");
        let page = login(&Viewer::of(None), next, "\"><b>", Some("<i>"));
        assert!(!page.contains("<script>") && !page.contains("<b>") && !page.contains("<i>"));
        assert!(page.contains("value=\"/a&quot;&gt;&lt;script&gt;\""));
        let message = "Too many failed sign-ins. Try again in 15 minutes.";
        let page = login(&Viewer::of(None), None, "alice", Some(message));
        assert!(page.contains(&format!("<p class=\"error\" role=\"alert\">{message}</p>")));
        assert!(page.contains("name=\"password\""));
    }

    #[test]
    fn the_theme_form_offers_light_dark_and_auto_and_marks_the_current_one() {
        let viewer = Viewer {
            theme: "dark",
            ..Viewer::of(None)
        };
        let page = home(&viewer);
        for choice in ["light", "auto"] {
            assert!(page.contains(&format!(
                "name=\"theme\" value=\"{choice}\" aria-pressed=\"false\""
            )));
        }
        assert!(page.contains("name=\"theme\" value=\"dark\" aria-pressed=\"true\""));
    }
}
