//! The HTML latch renders itself, carried inside the binary so the pages
//! work with no www dir at all. Every value that came from a request or a
//! user passes through `escape_html` on its way in.

use std::fmt::Write;

/// Who is looking at a page, as the page needs to know it.
pub struct Viewer<'a> {
    /// The signed-in user's name.
    pub user: Option<&'a str>,
    /// The session's CSRF token, echoed in every form that changes state.
    pub csrf: Option<&'a str>,
    /// `light` or `dark`; `auto` follows the browser's preference.
    pub theme: &'static str,
}

/// Escapes the five characters that can end an HTML text node or a quoted
/// attribute value (OWASP XSS Prevention Cheat Sheet, rule #1 and #2).
pub fn escape_html(text: &str) -> String {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The frame every page shares: head, navigation bar, then `main`.
pub fn layout(title: &str, viewer: &Viewer, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\" data-theme=\"{theme}\">\n<head>\n\
         <meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · latch</title>\n\
         <link rel=\"stylesheet\" href=\"/style.css\">\n\
         <link rel=\"icon\" href=\"/favicon.svg\">\n\
         </head>\n<body>\n<header>\n<a class=\"brand\" href=\"/\">latch</a>\n{nav}</header>\n\
         <main>\n{main}</main>\n</body>\n</html>\n",
        theme = escape_html(viewer.theme),
        title = escape_html(title),
        nav = nav(viewer),
    )
}

/// The navigation bar: who is signed in and the logout buttons, on every
/// page (OWASP: logout reachable from every page), or a sign-in link.
/// Logout is a form posting to `/logout`, never a link: a GET must not
/// change state (RFC 9110 §9.2.1), and a link can be followed by
/// prefetchers, crawlers and `<img src>` on other sites.
fn nav(viewer: &Viewer) -> String {
    let Some(user) = viewer.user else {
        return "<nav><a href=\"/login\">Sign in</a></nav>\n".into();
    };
    let token = hidden_csrf(viewer.csrf);
    format!(
        "<nav>\n<span>Signed in as <strong>{user}</strong></span>\n\
         <a href=\"/account\">Account</a>\n\
         <form method=\"post\" action=\"/logout\">{token}<button type=\"submit\">Sign out</button></form>\n\
         <form method=\"post\" action=\"/logout\">{token}<input type=\"hidden\" name=\"scope\" value=\"all\">\
         <button type=\"submit\">Sign out everywhere</button></form>\n</nav>\n",
        user = escape_html(user),
    )
}

fn hidden_csrf(token: Option<&str>) -> String {
    token.map_or_else(String::new, |t| {
        format!(
            "<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">",
            escape_html(t)
        )
    })
}

/// The theme switcher: two buttons posting to `/theme`, back to `next`.
fn theme_form(viewer: &Viewer, next: &str) -> String {
    let mut html = format!(
        "<form method=\"post\" action=\"/theme\" class=\"theme\">{}\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\n<span>Theme: {}</span>\n",
        hidden_csrf(viewer.csrf),
        escape_html(next),
        escape_html(viewer.theme),
    );
    for choice in ["light", "dark"] {
        let _ = writeln!(
            html,
            "<button type=\"submit\" name=\"theme\" value=\"{choice}\">{choice}</button>"
        );
    }
    html.push_str("</form>\n");
    html
}

/// `GET /`.
pub fn home(viewer: &Viewer) -> String {
    let greeting = match viewer.user {
        Some(user) => format!(
            "<p>You are signed in as <strong>{}</strong>. See <a href=\"/account\">your account</a>.</p>\n",
            escape_html(user)
        ),
        None => "<p>You are not signed in. <a href=\"/login\">Sign in</a>.</p>\n".into(),
    };
    let main = format!(
        "<h1>latch</h1>\n{greeting}\
         <p>Sessions are JSON files on the server; your browser holds only a random id.\n\
         The theme below is kept in that session, whether or not you sign in.</p>\n{}",
        theme_form(viewer, "/")
    );
    layout("Home", viewer, &main)
}

/// `GET /login` and a failed `POST /login`: the form, carrying the safe
/// `next` through, with an error when the last try failed.
pub fn login(viewer: &Viewer, next: Option<&str>, username: &str, error: Option<&str>) -> String {
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape_html(e))
    });
    let next = next.map_or_else(String::new, |n| {
        format!(
            "<input type=\"hidden\" name=\"next\" value=\"{}\">\n",
            escape_html(n)
        )
    });
    let main = format!(
        "<h1>Sign in</h1>\n{error}<form method=\"post\" action=\"/login\">\n{next}\
         <label for=\"username\">User name</label>\n\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" autocomplete=\"username\" required autofocus>\n\
         <label for=\"password\">Password</label>\n\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\n\
         <p><button type=\"submit\">Sign in</button></p>\n</form>\n",
        username = escape_html(username),
    );
    layout("Sign in", viewer, &main)
}

/// `GET /account`: the protected page.
pub fn account(viewer: &Viewer, user: &str, signed_in_at: &str) -> String {
    let token = hidden_csrf(viewer.csrf);
    let main = format!(
        "<h1>Your account</h1>\n<dl>\n<dt>User</dt><dd id=\"user\">{user}</dd>\n\
         <dt>Signed in</dt><dd id=\"signed-in-at\">{at}</dd>\n</dl>\n\
         <p>This page is sent with <code>Cache-Control: no-store</code>: after you sign out,\n\
         Back shows no copy of it; the browser asks again and is sent to the sign-in page.</p>\n\
         <form method=\"post\" action=\"/logout\">{token}<button type=\"submit\" id=\"logout\">Sign out</button></form>\n{theme}",
        user = escape_html(user),
        at = escape_html(signed_in_at),
        theme = theme_form(viewer, "/account"),
    );
    layout("Account", viewer, &main)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(
            escape_html(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#x27;"
        );
    }

    #[test]
    fn a_hostile_user_name_is_escaped_everywhere() {
        let viewer = Viewer {
            user: Some("<img src=x onerror=alert(1)>"),
            csrf: Some("\"><script>"),
            theme: "dark",
        };
        let page = home(&viewer);
        assert!(!page.contains("<img src=x"));
        assert!(!page.contains("\"><script>"));
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }

    #[test]
    fn the_login_form_escapes_what_it_echoes() {
        let viewer = Viewer {
            user: None,
            csrf: None,
            theme: "auto",
        };
        let page = login(&viewer, Some("/a\"><script>"), "\"><b>", Some("<i>"));
        assert!(!page.contains("<script>") && !page.contains("<b>") && !page.contains("<i>"));
        assert!(page.contains("value=\"/a&quot;&gt;&lt;script&gt;\""));
    }

    #[test]
    fn logout_is_a_form_not_a_link() {
        let viewer = Viewer {
            user: Some("alice"),
            csrf: Some("tok"),
            theme: "auto",
        };
        let page = home(&viewer);
        assert!(page.contains("<form method=\"post\" action=\"/logout\">"));
        assert!(!page.contains("href=\"/logout"));
        assert!(page.contains("name=\"scope\" value=\"all\""));
    }
}
