//! The pages a person sees, over raw HTTP: error answers as pages in the
//! site's look for a browser (plain text for other clients), the notice
//! after signing out, the account page's controls, and the theme's way back
//! to "auto".

use crate::support::{Response, Server, ALICE};

/// What Chromium and Firefox send in `Accept` when they load a page.
const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

const CSP: &str = "default-src 'self'; frame-ancestors 'none'";

/// A request as a browser makes it: its `Accept`, and a same-origin form
/// POST's `Content-Type` when there is a body.
fn browse(server: &Server, method: &str, path: &str, cookie: Option<&str>, body: &str) -> Response {
    let mut headers = vec![("Accept", BROWSER)];
    if method == "POST" {
        headers.push(("Content-Type", "application/x-www-form-urlencoded"));
    }
    server.send(method, path, cookie, &headers, body)
}

/// The headers every page latch renders carries, and a link onwards.
fn assert_is_a_page_with_a_way_on(response: &Response, what: &str) {
    let text = response.text();
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8"),
        "{what}: {text}"
    );
    assert_eq!(response.header("cache-control"), Some("no-store"), "{what}");
    assert_eq!(
        response.header("content-security-policy"),
        Some(CSP),
        "{what}"
    );
    assert_eq!(response.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        response.header("referrer-policy"),
        Some("same-origin"),
        "{what}"
    );
    assert!(text.starts_with("<!doctype html>"), "{what}: {text}");
    assert!(
        text.contains("<link rel=\"stylesheet\" href=\"/style.css\">"),
        "{what}"
    );
    assert!(text.contains("href=\"/\""), "{what}: no link home: {text}");
}

/// The `name=value` a response's `Set-Cookie` lines give cookie `name`,
/// with the whole line.
fn set_cookie_line<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers_named("set-cookie")
        .into_iter()
        .find(|line| line.starts_with(&format!("{name}=")))
}

fn signed_in(server: &Server) -> (String, String) {
    let id = server.login(ALICE.0, ALICE.1);
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie);
    (cookie, token)
}

// Error answers.

#[test]
fn a_browser_gets_404_as_a_page_that_names_the_path_and_links_home() {
    let server = Server::start(&[]);
    let response = browse(&server, "GET", "/no/such/page", None, "");
    assert_eq!(response.status_line, "HTTP/1.1 404 Not Found");
    assert_is_a_page_with_a_way_on(&response, "404");
    let text = response.text();
    assert!(text.contains("Page not found"), "{text}");
    assert!(
        text.contains("There is no page at <code>/no/such/page</code>."),
        "{text}"
    );
    assert!(text.contains("data-theme=\"auto\""), "{text}");
}

/// A link can carry words: decoded, `/.%20Your%20account%20is%20locked...`
/// would read as the site's own sentence, and `%E2%80%AE` (U+202E,
/// right-to-left override) would reorder the text around it. The page
/// shows the path as it was sent, as code.
#[test]
fn a_404_page_shows_the_path_as_sent_never_as_the_sites_words() {
    let server = Server::start(&[]);
    let lure = "/.%20Your%20account%20is%20locked.%20Call%20555-0100%20to%20unlock%20it.";
    let response = browse(&server, "GET", lure, None, "");
    assert_eq!(response.status, 404);
    let text = response.text();
    assert!(!text.contains("Your account is locked"), "{text}");
    assert!(!text.contains("Call 555"), "{text}");
    assert!(text.contains(&format!("<code>{lure}</code>")), "{text}");

    for path in ["/a%E2%80%AEtxt.exe", "/%e2%80%ae", "/x%E2%81%A6y%E2%80%8F"] {
        let response = browse(&server, "GET", path, None, "");
        assert_eq!(response.status, 404, "{path}");
        let text = response.text();
        for bidi in ['\u{202E}', '\u{2066}', '\u{200F}'] {
            assert!(!text.contains(bidi), "{path}: {bidi:?} reached the page");
        }
        assert!(
            text.contains(&format!("<code>{path}</code>")),
            "{path}: {text}"
        );
    }

    let long = format!("/{}", "%41".repeat(200));
    let text = browse(&server, "GET", &long, None, "").text();
    let shown = text
        .split("<code>")
        .nth(1)
        .unwrap()
        .split("</code>")
        .next()
        .unwrap();
    assert!(shown.ends_with("%41…") && shown.len() < 130, "{shown}");
}

/// Why signing out is a button, in one plain sentence.
const SIGN_OUT_IS_A_BUTTON: &str = "Signing out is a button, not an address, so that no other \
     site, and no browser opening links ahead of you, can sign you out just by opening this \
     address.";

#[test]
fn a_browser_gets_405_as_a_page_that_keeps_allow() {
    let server = Server::start(&[]);
    let response = browse(&server, "GET", "/logout", None, "");
    assert_eq!(response.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(response.header("allow"), Some("POST, OPTIONS"));
    assert_is_a_page_with_a_way_on(&response, "405");
    let text = response.text();
    assert!(
        text.contains(&format!("<p>{SIGN_OUT_IS_A_BUTTON}</p>")),
        "{text}"
    );
    assert!(
        text.contains("You are not signed in, so there is nothing to sign out of."),
        "{text}"
    );
    assert!(
        !text.contains("action=\"/logout\""),
        "nothing to sign out of: {text}"
    );

    let response = browse(&server, "GET", "/theme", None, "");
    assert_eq!(response.status, 405);
    assert!(
        response.text().contains(
            "<code>/theme</code> is where a button on this site&#x27;s pages sends its form, \
             not a page to open."
        ),
        "{}",
        response.text()
    );
}

/// `/logout` typed into the address bar while signed in: the page says why
/// it is a button, and is the button, a real one: it signs out.
#[test]
fn the_405_of_logout_offers_a_signed_in_browser_the_sign_out_button_that_works() {
    let server = Server::with_users(&[ALICE], &[]);
    let (cookie, token) = signed_in(&server);
    let response = browse(&server, "GET", "/logout", Some(&cookie), "");
    assert_eq!(response.status, 405);
    let text = response.text();
    assert!(
        text.contains(&format!("<p>{SIGN_OUT_IS_A_BUTTON}</p>")),
        "{text}"
    );
    assert!(!text.contains("You are not signed in"), "{text}");
    let button = format!(
        "<form method=\"post\" action=\"/logout\"><input type=\"hidden\" \
         name=\"csrf_token\" value=\"{token}\"><button type=\"submit\" \
         id=\"logout-here\">Sign out</button></form>"
    );
    assert!(text.contains(&button), "{text}");
    // Pressed, it posts what the form holds, and signs out.
    let pressed = browse(
        &server,
        "POST",
        "/logout",
        Some(&cookie),
        &format!("csrf_token={token}"),
    );
    assert_eq!(pressed.status, 303, "{}", pressed.text());
    assert!(!server.is_signed_in(&cookie));
}

#[test]
fn a_browser_gets_413_and_415_as_pages() {
    let server = Server::start(&[]);
    let big = format!("theme={}", "a".repeat(20 * 1024));
    let response = browse(&server, "POST", "/theme", None, &big);
    assert_eq!(response.status, 413);
    assert_is_a_page_with_a_way_on(&response, "413");
    assert!(response.text().contains("16 KiB"));

    let headers = [("Accept", BROWSER), ("Content-Type", "text/plain")];
    let response = server.send("POST", "/theme", None, &headers, "theme=dark");
    assert_eq!(response.status, 415);
    assert_is_a_page_with_a_way_on(&response, "415");
}

#[test]
fn a_browser_gets_a_throttled_sign_in_as_a_page_that_keeps_retry_after() {
    let server = Server::with_users(&[ALICE], &["--login-throttle", "1"]);
    let wrong = "username=alice&password=nope";
    assert_eq!(browse(&server, "POST", "/login", None, wrong).status, 422);
    let response = browse(&server, "POST", "/login", None, wrong);
    assert_eq!(response.status_line, "HTTP/1.1 429 Too Many Requests");
    let retry: u64 = response.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 0);
    assert_is_a_page_with_a_way_on(&response, "429");
}

#[test]
fn a_refused_cross_origin_post_is_a_page_for_a_browser() {
    let server = Server::start(&[]);
    let headers = [
        ("Accept", BROWSER),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Sec-Fetch-Site", "cross-site"),
    ];
    let response = server.send("POST", "/theme", None, &headers, "theme=dark");
    assert_eq!(response.status, 403);
    assert_is_a_page_with_a_way_on(&response, "403");
}

#[test]
fn a_client_that_does_not_ask_for_html_gets_plain_text() {
    let server = Server::start(&[]);
    for accept in [None, Some("*/*"), Some("application/json")] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        let response = server.send("GET", "/no/such/page", None, &headers, "");
        assert_eq!(response.status, 404, "{accept:?}");
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "{accept:?}"
        );
        assert_eq!(response.text(), "404 Not Found\n", "{accept:?}");
        assert_eq!(response.header("vary"), Some("Accept"), "{accept:?}");

        let response = server.send("GET", "/logout", None, &headers, "");
        assert_eq!(response.status, 405, "{accept:?}");
        assert_eq!(response.header("allow"), Some("POST, OPTIONS"));
        assert!(response.text().starts_with("405 "), "{accept:?}");
    }
}

#[test]
fn request_values_in_an_error_page_are_escaped() {
    let server = Server::start(&[]);
    for (path, shown) in [
        (
            "/%3Cscript%3Ealert(1)%3C/script%3E",
            "<code>/%3Cscript%3Ealert(1)%3C/script%3E</code>",
        ),
        (
            "/a\"onmouseover='x'&b",
            "/a&quot;onmouseover=&#x27;x&#x27;&amp;b",
        ),
    ] {
        let response = browse(&server, "GET", path, None, "");
        assert_eq!(response.status, 404, "{path}");
        let text = response.text();
        assert!(!text.contains("<script>"), "{path}: {text}");
        assert!(!text.contains("onmouseover='"), "{path}: {text}");
        assert!(text.contains(shown), "{path}: {text}");
    }
    let response = browse(&server, "BREW", "/login", None, "");
    assert_eq!(response.status, 405);
    assert!(
        response
            .text()
            .contains("<code>/login</code> answers to GET, HEAD, POST, OPTIONS, not to BREW."),
        "{}",
        response.text()
    );
}

#[test]
fn head_of_an_error_page_has_the_page_headers_and_no_body() {
    let server = Server::start(&[]);
    let bytes = server.raw_until_close(
        format!("HEAD /nope HTTP/1.1\r\nHost: x\r\nAccept: {BROWSER}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert_eq!(body, "", "HEAD sent a body");
}

#[test]
fn an_error_page_wears_the_session_theme_and_shows_who_is_signed_in() {
    let server = Server::with_users(&[ALICE], &[]);
    let (cookie, token) = signed_in(&server);
    assert_eq!(server.set_theme(&cookie, &token, "dark").status, 303);
    let response = browse(&server, "GET", "/nope", Some(&cookie), "");
    assert_eq!(response.status, 404);
    let text = response.text();
    assert!(text.contains("data-theme=\"dark\""), "{text}");
    assert!(
        text.contains("Signed in as <strong>alice</strong>"),
        "{text}"
    );
    assert_eq!(text.matches("action=\"/logout\"").count(), 1, "{text}");
}

// The notice after signing out.

/// Signs out with the page's token; returns the answer and the cookies a
/// browser would send next (the session cookie, if any, and the notice).
fn sign_out(server: &Server, cookie: &str, token: &str) -> (Response, String) {
    let response = server.logout(cookie, token);
    assert_eq!(response.status, 303, "{}", response.text());
    let notice = set_cookie_line(&response, "notice").expect("the logout sets a notice");
    assert_eq!(
        notice,
        "notice=signed-out; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
    );
    let mut jar = vec!["notice=signed-out".to_string()];
    if let Some(sid) = response.set_cookie_value("sid").filter(|v| !v.is_empty()) {
        jar.push(format!("sid={sid}"));
    }
    (response, jar.join("; "))
}

/// The next page shows the notice and clears it; without the cookie (as
/// the browser then sends), it is gone.
fn assert_notice_shown_once(server: &Server, path: &str, jar: &str, after: Option<&str>) {
    let page = browse(server, "GET", path, Some(jar), "");
    assert_eq!(page.status, 200, "{path}");
    assert!(
        page.text().contains("You have signed out."),
        "{path}: {}",
        page.text()
    );
    assert_eq!(
        set_cookie_line(&page, "notice"),
        Some("notice=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
        "{path}"
    );
    let again = browse(server, "GET", path, after, "");
    assert!(!again.text().contains("You have signed out."), "{path}");
    assert_eq!(set_cookie_line(&again, "notice"), None, "{path}");
}

#[test]
fn after_a_keep_mode_logout_the_next_page_says_signed_out_once() {
    let server = Server::with_users(&[ALICE], &[]);
    let (cookie, token) = signed_in(&server);
    server.set_theme(&cookie, &token, "dark");
    let (response, jar) = sign_out(&server, &cookie, &token);
    assert_eq!(response.header("location"), Some("/"));
    let new_sid = response.set_cookie_value("sid").unwrap();
    let after = format!("sid={new_sid}");
    assert_notice_shown_once(&server, "/", &jar, Some(&after));
    assert!(browse(&server, "GET", "/", Some(&after), "")
        .text()
        .contains("data-theme=\"dark\""));
}

#[test]
fn after_a_flush_mode_logout_the_next_page_says_signed_out_once() {
    let server = Server::with_users(&[ALICE], &["--logout-flush"]);
    let (cookie, token) = signed_in(&server);
    let (response, jar) = sign_out(&server, &cookie, &token);
    assert_eq!(response.header("location"), Some("/"));
    assert_eq!(jar, "notice=signed-out", "flush mode leaves no session");
    assert_notice_shown_once(&server, "/", &jar, None);
}

/// Under `--secure-cookies` the notice follows the session cookie's rules:
/// `__Host-notice` with `Secure`, set, read and removed under that name; a
/// plain `notice` (which a sibling subdomain or a plain-HTTP page could
/// plant) is not read.
#[test]
fn under_secure_cookies_the_notice_is_a_host_cookie_with_secure() {
    let server = Server::with_users(&[ALICE], &["--logout-flush", "--secure-cookies"]);
    let response = server.post("/login", None, "username=alice&password=wonderland");
    let id = response.set_cookie_value("__Host-sid").unwrap();
    let cookie = format!("__Host-sid={id}");
    let token = server.csrf_token(&cookie);
    let response = server.logout(&cookie, &token);
    assert_eq!(response.status, 303);
    assert_eq!(
        set_cookie_line(&response, "__Host-notice"),
        Some("__Host-notice=signed-out; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure")
    );
    assert_eq!(set_cookie_line(&response, "notice"), None);

    let page = browse(&server, "GET", "/", Some("__Host-notice=signed-out"), "");
    assert!(
        page.text().contains("You have signed out."),
        "{}",
        page.text()
    );
    assert_eq!(
        set_cookie_line(&page, "__Host-notice"),
        Some("__Host-notice=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure")
    );

    let planted = browse(&server, "GET", "/", Some("notice=signed-out"), "");
    assert!(!planted.text().contains("You have signed out."));
    assert_eq!(planted.header("set-cookie"), None);
}

#[test]
fn a_signed_in_page_never_says_signed_out_but_clears_the_notice() {
    let server = Server::with_users(&[ALICE], &[]);
    let (cookie, token) = signed_in(&server);
    sign_out(&server, &cookie, &token);
    // Signed in again within the notice's minute, the cookie still there.
    let (again, _) = signed_in(&server);
    let jar = format!("notice=signed-out; {again}");
    let page = browse(&server, "GET", "/", Some(&jar), "");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("alice"), "{}", page.text());
    assert!(
        !page.text().contains("You have signed out."),
        "{}",
        page.text()
    );
    assert_eq!(
        set_cookie_line(&page, "notice"),
        Some("notice=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    );
}

/// "Sign out everywhere" ends on its own notice: the other devices,
/// which the person cannot see, are signed out too.
#[test]
fn after_sign_out_everywhere_the_next_page_says_every_other_device_is_signed_out_too() {
    let server = Server::with_users(&[ALICE], &[]);
    let (elsewhere, _) = signed_in(&server);
    let (cookie, token) = signed_in(&server);
    let body = format!("csrf_token={token}&scope=all");
    let response = server.post("/logout", Some(&cookie), &body);
    assert_eq!(response.status, 303);
    assert_eq!(
        set_cookie_line(&response, "notice"),
        Some("notice=signed-out-everywhere; Path=/; HttpOnly; SameSite=Lax; Max-Age=60")
    );
    assert!(!server.is_signed_in(&elsewhere), "the other device");
    let page = browse(
        &server,
        "GET",
        "/",
        Some("notice=signed-out-everywhere"),
        "",
    );
    let text = page.text();
    assert!(
        text.contains(
            "<main>\n<p class=\"notice\" role=\"status\">You have signed out here and on every \
             other device: anyone signed in as you elsewhere must sign in again.</p>"
        ),
        "{text}"
    );
    assert!(!text.contains("You have signed out.<"), "{text}");
}

/// `/account` without a sign-in sends the browser to the sign-in page,
/// which says why it is there.
#[test]
fn the_sign_in_page_reached_from_the_account_page_says_why() {
    let server = Server::with_users(&[ALICE], &[]);
    let response = browse(&server, "GET", "/account", None, "");
    assert_eq!(response.status, 303);
    let location = response.header("location").unwrap().to_owned();
    assert_eq!(location, "/login?next=%2Faccount");
    let text = browse(&server, "GET", &location, None, "").text();
    assert!(
        text.contains("<h1>Sign in</h1>\n<p>Sign in to see your account.</p>"),
        "{text}"
    );
    let plain = browse(&server, "GET", "/login", None, "").text();
    assert!(!plain.contains("Sign in to see"), "{plain}");
}

#[test]
fn the_sign_in_page_shows_the_notice_when_logout_leads_there() {
    let server = Server::with_users(&[ALICE], &["--logout-redirect", "/login"]);
    let (cookie, token) = signed_in(&server);
    let (response, jar) = sign_out(&server, &cookie, &token);
    assert_eq!(response.header("location"), Some("/login"));
    assert_notice_shown_once(&server, "/login", &jar, None);
}

// The account page, the home page and the theme.

#[test]
fn the_account_page_has_one_sign_out_and_one_sign_out_everywhere() {
    let server = Server::with_users(&[ALICE], &[]);
    let (cookie, _) = signed_in(&server);
    let text = server.get("/account", Some(&cookie)).text();
    assert_eq!(text.matches("action=\"/logout\"").count(), 2, "{text}");
    assert_eq!(text.matches(">Sign out</button>").count(), 1, "{text}");
    assert_eq!(
        text.matches(">Sign out everywhere</button>").count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches("name=\"scope\" value=\"all\"").count(),
        1,
        "{text}"
    );
}

#[test]
fn the_account_page_shows_the_login_time_as_a_date_a_person_reads() {
    let server = Server::with_users(&[ALICE], &[]);
    let (cookie, _) = signed_in(&server);
    let text = server.get("/account", Some(&cookie)).text();
    // `<dd id="signed-in-at"><time datetime="2026-11-30T11:42:07Z">30 Nov
    // 2026, 11:42 UTC</time></dd>`: ISO 8601 for machines only.
    let (_, after) = text
        .split_once("<dd id=\"signed-in-at\"><time datetime=\"")
        .expect("the login time in a <time> element");
    let (datetime, after) = after.split_once("\">").unwrap();
    assert!(
        datetime.len() == 20 && datetime.ends_with('Z'),
        "{datetime}"
    );
    let (visible, _) = after.split_once("</time>").unwrap();
    let words: Vec<&str> = visible.split(' ').collect();
    assert_eq!(words.len(), 5, "{visible}");
    assert!(
        words[0].parse::<u8>().is_ok_and(|d| (1..=31).contains(&d)),
        "{visible}"
    );
    assert_eq!(words[1].len(), 3, "a month's short name: {visible}");
    assert!(words[2].ends_with(','), "{visible}");
    assert_eq!(words[3].len(), 5, "hours and minutes: {visible}");
    assert_eq!(words[4], "UTC", "{visible}");
}

#[test]
fn the_home_page_has_one_sign_out_when_signed_in_and_none_otherwise() {
    let server = Server::with_users(&[ALICE], &[]);
    let (cookie, _) = signed_in(&server);
    let text = server.get("/", Some(&cookie)).text();
    assert_eq!(text.matches("action=\"/logout\"").count(), 1, "{text}");
    // A form, never a link; and no "Sign out everywhere" (the account page's).
    assert!(text.contains("<form method=\"post\" action=\"/logout\">"));
    assert!(!text.contains("href=\"/logout") && !text.contains("scope"));
    assert_eq!(text.matches(">Sign out</button>").count(), 1, "{text}");
    let text = server.get("/", None).text();
    assert_eq!(text.matches("action=\"/logout\"").count(), 0, "{text}");
    assert!(text.contains("href=\"/login\""));
}

#[test]
fn theme_auto_removes_the_stored_theme() {
    let server = Server::with_users(&[ALICE], &[]);
    let (cookie, token) = signed_in(&server);
    server.set_theme(&cookie, &token, "dark");
    let id = cookie.trim_start_matches("sid=");
    assert_eq!(server.session_json(id).unwrap()["data"]["theme"], "dark");

    let response = server.set_theme(&cookie, &token, "auto");
    assert_eq!(response.status, 303);
    assert_eq!(response.header("set-cookie"), None, "the same session");
    let data = &server.session_json(id).unwrap()["data"];
    assert!(data.get("theme").is_none(), "{data}");
    let text = server.get("/", Some(&cookie)).text();
    assert!(text.contains("data-theme=\"auto\""));
    assert!(
        text.contains("value=\"auto\" aria-pressed=\"true\""),
        "{text}"
    );
}

#[test]
fn theme_auto_without_a_session_creates_none() {
    let server = Server::start(&[]);
    let response = server.post("/theme", None, "theme=auto");
    assert_eq!(response.status, 303);
    assert_eq!(response.header("set-cookie"), None);
    assert_eq!(server.stored_sessions(), 0);
}
