//! A real browser against the real binary: headless Chromium, driven through
//! chromedriver (W3C WebDriver), signs in with the form, changes the theme,
//! presses the logout button, then goes Back and reloads.
//!
//! The wire tests prove what latch sends; this proves what a browser does with
//! it. After a logout, Back must not bring the account page back from the
//! back/forward cache or the HTTP cache: `Cache-Control: no-store` on the page,
//! the session cookie changing (or being removed) and `Clear-Site-Data:
//! "cache"` on the logout answer make Chromium ask the server again, and the
//! server answers with the sign-in page.
//!
//! A third walks the pages around signing out (the 405 of `/logout`, the
//! sign-in page `/account` sends to, "Sign out everywhere", the page for
//! `--logout-redirect`) at a desktop's and a phone's width, light and dark,
//! and saves each as a PNG under `target/screenshots/` to look at.
//!
//! Needs `chromium` and `chromedriver` on `PATH` (Debian: `apt-get install
//! chromium chromium-driver`), so these tests are `#[ignore]`d: a plain
//! `cargo test` passes on a fresh machine. Run them with `cargo test
//! --test tests browser:: -- --ignored`; `.ci/run` installs both and
//! always does. Once asked to run, they fail, never skip, when the browser
//! cannot start: a browser test that is skipped and counted as passed hides
//! exactly the regressions it exists for.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::support::{free_port, Server, TempDir, TIMEOUT};
use latch::trace::short;

/// Starting Chromium on a busy 2-core machine can take a while; every other
/// wait uses `TIMEOUT`.
const BROWSER_START: Duration = Duration::from_secs(30);

/// The flags the issue asks for: no sandbox (CI runs as root), no GPU, and
/// nothing that talks to the network behind the test's back.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
];

/// One browser at a time: two Chromiums on a shared 2-core machine only make
/// each other slow, and every wait here is bounded.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

#[test]
#[ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"]
fn back_after_logout_shows_the_sign_in_page_and_keep_mode_keeps_the_theme() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::with_users(&[("alice", "pw")], &[]);
    let browser = Browser::start();

    let signed_in_sid = sign_in_and_choose_dark(&browser, &server);
    log_out(&browser);

    // The old session is gone; the theme moved to a fresh id with no auth
    // fields.
    let sid = browser
        .cookie("sid")
        .expect("keep mode gives the browser a new session cookie");
    assert_ne!(sid, signed_in_sid, "the session id changes at logout");
    assert!(server.session_json(&signed_in_sid).is_none());
    assert!(server.session_json(&sid).is_some());
    assert_eq!(server.stored_sessions(), 1, "only the new id's session");
    let data = only_session_data(&server);
    assert_eq!(data["theme"], "dark", "keep mode keeps non-auth data");
    assert_no_auth_fields(&data);
    assert!(
        server
            .stderr()
            .contains("logout user=alice scope=this mode=keep"),
        "{}",
        server.stderr()
    );

    let page = back_and_reload(&browser, &server);
    assert_eq!(
        page.theme, "dark",
        "the theme survives the logout: {page:#?}"
    );
    assert_no_auth_fields(&only_session_data(&server));
}

#[test]
#[ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"]
fn back_after_logout_shows_the_sign_in_page_and_flush_mode_drops_the_theme() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::with_users(&[("alice", "pw")], &["--logout-flush"]);
    let browser = Browser::start();

    sign_in_and_choose_dark(&browser, &server);
    log_out(&browser);

    // The session is deleted and the removal cookie (`Max-Age=0`) honoured.
    assert_eq!(browser.cookie("sid"), None, "flush mode removes the cookie");
    assert_eq!(server.stored_sessions(), 0);
    assert!(
        server
            .stderr()
            .contains("logout user=alice scope=this mode=flush"),
        "{}",
        server.stderr()
    );

    let page = back_and_reload(&browser, &server);
    assert_eq!(
        page.theme, "auto",
        "flush mode forgets the theme: {page:#?}"
    );
    // Back and reload were GETs, which never create a session.
    assert_eq!(server.stored_sessions(), 0);
}

/// With `--trace`, a learner signs in, presses Sign out, opens `/_trace` in
/// the same browser and sees what the POST did: its row of the execution
/// table, opening (a `<details>`, no script) into its steps and what
/// changed, from the real ids. Another browser's `/_trace` shows none of
/// it. Screenshots at desktop and phone widths, light and dark, go to
/// `target/trace-screenshots/` for a person to look at.
#[test]
#[ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"]
fn trace_shows_a_browser_what_its_sign_out_did_and_another_browser_nothing() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::with_users(&[("alice", "pw")], &["--trace"]);
    let browser = Browser::start();
    let signed_in_sid = sign_in_and_choose_dark(&browser, &server);
    log_out(&browser);
    let sid = browser.cookie("sid").expect("keep mode: a new session");
    let trace = browser.cookie_named("trace").expect("a trace cookie");
    assert_eq!(trace.http_only(), Some(true), "{trace:?}");
    assert_eq!(trace.value().len(), 64, "{trace:?}");

    browser.goto(&format!("http://{}/_trace", server.addr));
    let page = browser.wait_for("the trace page", |p| p.path == "/_trace");
    assert_eq!(page.theme, "dark", "the page wears the session's theme");
    let logout = "//summary[.//code[text()='POST /logout']]";
    let opened = browser.open_details(logout);
    let dir = server.sessions_dir();
    let file = |id: &str| {
        crate::support::session_file_for(&dir, id)
            .display()
            .to_string()
    };
    for seen in [
        "alice → -".to_owned(),
        "303 See Other → GET /".to_owned(),
        "step 3, keep: _auth_* removed".to_owned(),
        format!("unlink {}", file(&signed_in_sid)),
        format!("file {} created", file(&sid)),
        format!("file {} deleted", file(&signed_in_sid)),
        short(&signed_in_sid),
        short(&sid),
        "\"theme\":\"dark\"".to_owned(),
    ] {
        assert!(opened.contains(&seen), "{seen:?} in\n{opened}");
    }
    let text = browser.wait_for("the page", |_| true).text;
    for secret in [signed_in_sid.as_str(), sid.as_str(), trace.value()] {
        assert!(!text.contains(secret), "a secret on the page");
    }
    screenshots(&browser, &server, logout);

    // Another browser (a profile of its own): none of it.
    drop(browser);
    let other = Browser::start();
    other.goto(&format!("http://{}/_trace", server.addr));
    let page = other.wait_for("another browser's trace page", |p| p.path == "/_trace");
    assert!(
        page.text.contains("No requests from this browser yet"),
        "{page:#?}"
    );
    assert!(!page.text.contains("POST /logout"), "{page:#?}");
}

/// The trace page with the logout's row open, at desktop and phone
/// widths, in the dark theme, then again in the light one (chosen on the
/// home page: `POST /theme`).
fn screenshots(browser: &Browser, server: &Server, row: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/trace-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    for theme in ["dark", "light"] {
        if theme == "light" {
            browser.goto(&format!("http://{}/", server.addr));
            browser.wait_for("the home page", |p| p.path == "/");
            browser.click("form.theme button[name=\"theme\"][value=\"light\"]");
            browser.wait_for("the home page, light", |p| {
                p.path == "/" && p.theme == "light"
            });
        }
        for (name, width, height) in [("desktop", 1280, 800), ("phone", 390, 844)] {
            browser.resize(width, height);
            browser.goto(&format!("http://{}/_trace", server.addr));
            browser.wait_for("the trace page", |p| {
                p.path == "/_trace" && p.theme == theme
            });
            browser.open_details(row);
            // The row, opened at its steps; what changed; the page's top.
            let shot = |part: &str| dir.join(format!("trace-{name}-{theme}-{part}.png"));
            browser.screenshot(&shot("steps"));
            browser.scroll_to("details[open] table.changed");
            browser.screenshot(&shot("changed"));
            browser.scroll_to("body");
            browser.screenshot(&shot("top"));
        }
    }
}

/// The pages a person meets around signing out, as they see them: at a
/// desktop's width and a phone's, in the browser's light and dark scheme
/// (the session's theme left at "auto", as for every new visitor). Each is
/// saved under `target/screenshots/` for a person to look at, and checked:
/// the width and the scheme took, nothing is wider than the window, and
/// what the page is for is on screen. The walk: `/logout` typed in while
/// signed in (405: why it is a button, and the button, which is pressed),
/// then signed out; `/account` (sent to sign in, saying why); "Sign out
/// everywhere" (its own notice); `/logged-out.html` (the page for
/// `--logout-redirect`).
#[test]
#[ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"]
fn the_sign_out_pages_fit_a_phone_and_a_desktop_in_light_and_dark() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::with_users(&[("alice", "pw")], &[]);
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    for (scheme, flags) in [("light", &[][..]), ("dark", &["--force-dark-mode"][..])] {
        let browser = Browser::start_with(flags);
        for (size, width, height) in [("desktop", 1280, 800), ("phone", 390, 844)] {
            browser.resize(width, height);
            let look = |name: &str, must_show: &str| {
                let seen = browser.eval(&format!(
                    "const shown = document.querySelector({must_show:?});
                     const box = shown && shown.getBoundingClientRect();
                     return {{
                       width: innerWidth,
                       dark: matchMedia('(prefers-color-scheme: dark)').matches,
                       widest: document.documentElement.scrollWidth,
                       shown: !!box && box.width > 0 && box.left >= 0 && box.right <= innerWidth,
                     }};"
                ));
                let what = format!("{name} at {size} {width}x{height}, {scheme}: {seen}");
                assert_eq!(seen["width"], width, "the width took: {what}");
                assert_eq!(seen["dark"], scheme == "dark", "the scheme took: {what}");
                assert!(
                    seen["widest"].as_u64() <= Some(width.into()),
                    "too wide: {what}"
                );
                assert_eq!(seen["shown"], true, "{must_show} on screen: {what}");
                browser.screenshot(&shots.join(format!("{name}-{size}-{scheme}.png")));
            };
            let home = format!("http://{}", server.addr);
            sign_in(&browser, &server, None);

            browser.goto(&format!("{home}/logout"));
            let page = browser.wait_for("the 405 of /logout", |p| p.path == "/logout");
            assert!(page.text.contains("Signing out is a button"), "{page:#?}");
            look("405-signed-in", "#logout-here");
            browser.click("#logout-here");
            let page = browser.wait_for("signed out", |p| p.path == "/" && p.user.is_none());
            assert!(page.text.contains("You have signed out."), "{page:#?}");

            browser.goto(&format!("{home}/logout"));
            let page = browser.wait_for("the 405, signed out", |p| p.path == "/logout");
            assert!(page.text.contains("nothing to sign out of"), "{page:#?}");
            look("405-signed-out", "main .way-on a.primary");

            browser.goto(&format!("{home}/account"));
            let page = browser.wait_for("sent to sign in", |p| p.path == "/login");
            assert!(
                page.text.contains("Sign in to see your account."),
                "{page:#?}"
            );
            look("sign-in-from-account", "main form.sign-in button");

            sign_in(&browser, &server, Some("/account"));
            browser.click("#logout-all");
            let page = browser.wait_for("signed out everywhere", |p| p.path == "/");
            assert!(page.text.contains("on every other device"), "{page:#?}");
            look("signed-out-everywhere", "main .notice");

            browser.goto(&format!("{home}/logged-out.html"));
            browser.wait_for("the logged-out page", |p| p.path == "/logged-out.html");
            look("logged-out-html", "main .way-on a.primary");
        }
    }
}

/// Signs in as alice through the form on the page `/login` shows (already
/// there when `from` names the page that sent the browser to it), and
/// lands on `/account`.
fn sign_in(browser: &Browser, server: &Server, from: Option<&str>) {
    if from.is_none() {
        browser.goto(&format!("http://{}/login", server.addr));
    }
    browser.wait_for("the sign-in form", |p| p.path == "/login");
    browser.type_into("#username", "alice");
    browser.type_into("#password", "pw");
    browser.click("main form[action=\"/login\"] button[type=\"submit\"]");
    browser.wait_for("the account page", |p| p.path == "/account");
}

/// Signs in as alice through the form, lands on `/account`, presses "dark",
/// opens a page that does not exist (an error page in the session's
/// theme, still signed in), and comes back to `/account`. Returns the
/// signed-in session id.
fn sign_in_and_choose_dark(browser: &Browser, server: &Server) -> String {
    browser.goto(&format!("http://{}/login", server.addr));
    browser.wait_for("the sign-in form", |p| p.path == "/login");
    browser.type_into("#username", "alice");
    browser.type_into("#password", "pw");
    browser.click("main form[action=\"/login\"] button[type=\"submit\"]");
    let page = browser.wait_for("the account page", |p| p.path == "/account");
    assert_eq!(page.user.as_deref(), Some("alice"), "{page:#?}");
    assert_eq!(page.theme, "auto", "no theme chosen yet: {page:#?}");
    let iso_8601 = |word: &str| word.len() == 20 && word.contains('T') && word.ends_with('Z');
    assert!(
        page.text.contains(" UTC") && !page.text.split_whitespace().any(iso_8601),
        "the login time reads as a date, not ISO 8601: {page:#?}"
    );

    browser.click("form.theme button[name=\"theme\"][value=\"dark\"]");
    let page = browser.wait_for("the account page, dark", |p| {
        p.path == "/account" && p.theme == "dark"
    });
    assert_eq!(page.user.as_deref(), Some("alice"), "{page:#?}");

    let data = only_session_data(server);
    assert_eq!(data["_auth_user"], "alice");
    assert_eq!(data["theme"], "dark");

    browser.goto(&format!("http://{}/no-such-page", server.addr));
    let page = browser.wait_for("the 404 page", |p| p.path == "/no-such-page");
    assert!(page.title.starts_with("Page not found"), "{page:#?}");
    assert_eq!(page.theme, "dark", "error pages wear the theme: {page:#?}");
    assert!(page.text.contains("Signed in as alice"), "{page:#?}");
    browser.goto(&format!("http://{}/account", server.addr));
    browser.wait_for("the account page again", |p| p.path == "/account");
    browser
        .cookie("sid")
        .expect("a signed-in browser holds the session cookie")
}

/// Presses the one "Sign out" button (in the navigation bar) on the
/// account page and lands on `/`, the default `--logout-redirect`, signed
/// out and told so once: the notice cookie is cleared by the page.
fn log_out(browser: &Browser) {
    browser.click("#logout");
    let page = browser.wait_for("the home page after logout", |p| p.path == "/");
    assert!(
        page.text.contains("You have signed out.") && page.text.contains("You are not signed in"),
        "the home page says so: {page:#?}"
    );
    assert!(!page.text.contains("alice"), "{page:#?}");
    assert_eq!(browser.cookie("notice"), None, "the notice shows once");
}

/// Goes Back to the account page's history entry, then reloads. The browser
/// must ask the server again (no copy from a cache) and be sent to sign in.
fn back_and_reload(browser: &Browser, server: &Server) -> Page {
    browser.back();
    let page = browser.wait_for("the sign-in page after Back", |p| p.path == "/login");
    assert_signed_out_sign_in_page(&page);
    // Until Back, every request for /account was signed in (200): this 303
    // is Back asking the server again instead of showing a cached copy.
    assert!(
        server.wait_for_log("access GET /account 303"),
        "Back asked the server for /account again: {}",
        server.stderr()
    );

    browser.refresh();
    let page = browser.wait_for("the sign-in page after reload", |p| p.path == "/login");
    assert_signed_out_sign_in_page(&page);
    page
}

/// Where `GET /account` sends a signed-out browser: docs/contract.md's
/// `303 /login?next=%2Faccount`, showing the form and no account data.
fn assert_signed_out_sign_in_page(page: &Page) {
    assert!(
        page.url.ends_with("/login?next=%2Faccount"),
        "redirected to sign in, back to /account after: {page:#?}"
    );
    assert_eq!(page.user, None, "no account page: {page:#?}");
    assert!(page.title.starts_with("Sign in"), "{page:#?}");
    assert!(!page.text.contains("alice"), "{page:#?}");
}

/// The `data` of the one session the store holds.
fn only_session_data(server: &Server) -> Value {
    let stored = server.listed_sessions();
    assert_eq!(stored.len(), 1, "one session: {stored:?}");
    serde_json::to_value(&stored[0].record.data).unwrap()
}

fn assert_no_auth_fields(data: &Value) {
    let keys: Vec<&String> = data
        .as_object()
        .expect("data is an object")
        .keys()
        .collect();
    assert!(
        keys.iter().all(|k| !k.starts_with("_auth_")),
        "no auth fields after logout: {keys:?}"
    );
}

/// What the test looks at on the current page, read in one round trip.
#[derive(Debug)]
struct Page {
    url: String,
    path: String,
    /// `<html data-theme>`: `light`, `dark` or `auto`.
    theme: String,
    title: String,
    /// The visible text of the body.
    text: String,
    /// The account page's `<dd id="user">`, when the page has one.
    user: Option<String>,
}

const READ_PAGE: &str = "const user = document.getElementById('user');
return {
  url: location.href,
  path: location.pathname,
  theme: document.documentElement.dataset.theme || '',
  title: document.title,
  text: document.body ? document.body.innerText : '',
  user: user ? user.textContent : null,
};";

impl Page {
    fn from_json(value: &Value) -> Option<Page> {
        let text = |key: &str| value[key].as_str().map(str::to_owned);
        Some(Page {
            url: text("url")?,
            path: text("path")?,
            theme: text("theme")?,
            title: text("title")?,
            text: text("text")?,
            user: text("user"),
        })
    }
}

/// chromedriver and the Chromium it starts, driven synchronously: each call
/// runs one bounded WebDriver exchange on the guard's own runtime. On drop
/// (also when a test panics) the WebDriver session is closed, which makes
/// chromedriver end its Chromium; then chromedriver is killed, and any
/// process still using this guard's profile dir is killed too.
struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    /// Holds Chromium's `--user-data-dir` and chromedriver's log.
    dir: TempDir,
    started: Instant,
}

impl Browser {
    fn start() -> Browser {
        Browser::start_with(&[])
    }

    /// A browser started with these Chromium flags on top of
    /// `CHROMIUM_ARGS` (`--force-dark-mode`: the dark scheme).
    fn start_with(extra: &[&str]) -> Browser {
        let chromium = installed("chromium");
        let chromedriver = installed("chromedriver");
        let dir = TempDir::new();
        let started = Instant::now();
        let (driver, port) = start_chromedriver(&chromedriver, dir.path());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut browser = Browser {
            runtime,
            client: None,
            driver,
            dir,
            started,
        };
        browser.connect(port, &chromium, extra);
        browser.note("browser started");
        browser
    }

    /// Opens the WebDriver session, which starts Chromium with a fresh
    /// profile, and page-load and script timeouts below our own `TIMEOUT`,
    /// so that a hung page is reported by chromedriver.
    fn connect(&mut self, port: u16, chromium: &Path, extra: &[&str]) {
        let profile = self.dir.path().join("profile");
        let mut args: Vec<String> = CHROMIUM_ARGS
            .iter()
            .chain(extra)
            .map(|a| a.to_string())
            .collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
            "timeouts": { "pageLoad": 8_000, "script": 8_000, "implicit": 0 },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let webdriver = format!("http://127.0.0.1:{port}");
        // Plain HTTP to chromedriver on loopback: no TLS connector needed.
        // hyper-util is a dependency of latch; fantoccini turns on the
        // `client-legacy` feature this connector lives behind.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let connect = async {
            ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(&webdriver)
                .await
        };
        match within(&self.runtime, BROWSER_START, connect) {
            Some(Ok(client)) => self.client = Some(client),
            Some(Err(e)) => panic!("{}", cannot_start(&format!("{e}"), self.dir.path())),
            None => panic!(
                "{}",
                cannot_start(
                    &format!("no session within {BROWSER_START:?}"),
                    self.dir.path()
                )
            ),
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("connected in start")
    }

    /// Runs one WebDriver exchange, bounded by `TIMEOUT`; panics naming
    /// `what` on an error or on the deadline.
    fn run<T, E: std::fmt::Display>(
        &self,
        what: &str,
        exchange: impl std::future::Future<Output = Result<T, E>>,
    ) -> T {
        match within(&self.runtime, TIMEOUT, exchange) {
            Some(Ok(value)) => value,
            Some(Err(e)) => panic!("{what}: {e}"),
            None => panic!("{what}: no answer within {TIMEOUT:?}"),
        }
    }

    fn goto(&self, url: &str) {
        self.run(&format!("open {url}"), self.client().goto(url));
    }

    fn back(&self) {
        self.run("go back", self.client().back());
        self.note("pressed Back");
    }

    fn refresh(&self) {
        self.run("reload", self.client().refresh());
        self.note("reloaded");
    }

    fn type_into(&self, css: &str, text: &str) {
        self.run(&format!("type into {css}"), async {
            self.client()
                .find(Locator::Css(css))
                .await?
                .send_keys(text)
                .await
        });
    }

    fn click(&self, css: &str) {
        self.run(&format!("click {css}"), async {
            self.client().find(Locator::Css(css)).await?.click().await
        });
        self.note(&format!("clicked {css}"));
    }

    /// The value of cookie `name` as the browser holds it for this site.
    fn cookie(&self, name: &str) -> Option<String> {
        self.cookie_named(name).map(|c| c.value().to_owned())
    }

    /// Cookie `name` as the browser holds it for this site, attributes
    /// included.
    fn cookie_named(&self, name: &str) -> Option<fantoccini::cookies::Cookie<'static>> {
        let cookies = self.run("read cookies", self.client().get_all_cookies());
        cookies.into_iter().find(|c| c.name() == name)
    }

    /// Clicks the `<summary>` `xpath` finds, so that its `<details>` opens,
    /// scrolls it to the top, and returns the opened details' text.
    fn open_details(&self, xpath: &str) -> String {
        self.run(&format!("open {xpath}"), async {
            self.client()
                .find(Locator::XPath(xpath))
                .await?
                .click()
                .await
        });
        self.note(&format!("opened {xpath}"));
        let read = "const s = document.evaluate(arguments[0], document, null, \
                    XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;\
                    s.scrollIntoView(); \
                    return s.parentElement.open ? s.parentElement.innerText : null;";
        let text = self.run(
            "read the opened row",
            self.client().execute(read, vec![json!(xpath)]),
        );
        text.as_str()
            .unwrap_or_else(|| panic!("{xpath} did not open: {text}"))
            .to_owned()
    }

    /// Scrolls the first element `css` matches to the top of the window.
    fn scroll_to(&self, css: &str) {
        let script = "document.querySelector(arguments[0]).scrollIntoView();";
        self.run(
            &format!("scroll to {css}"),
            self.client().execute(script, vec![json!(css)]),
        );
    }

    /// Makes the window `width` by `height` CSS pixels.
    fn resize(&self, width: u32, height: u32) {
        self.run(
            &format!("resize to {width}x{height}"),
            self.client().set_window_size(width, height),
        );
    }

    /// What `script` (a function body) returns on the current page.
    fn eval(&self, script: &str) -> Value {
        self.run("run a script", self.client().execute(script, vec![]))
    }

    /// Saves what the window shows as a PNG at `path`.
    fn screenshot(&self, path: &Path) {
        let png = self.run("take a screenshot", self.client().screenshot());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
        self.note(&format!("saved {}", path.display()));
    }

    /// Reads the page until `ready` holds, bounded by `TIMEOUT`. A read that
    /// fails while a navigation replaces the document is retried.
    fn wait_for(&self, what: &str, ready: impl Fn(&Page) -> bool) -> Page {
        let deadline = Instant::now() + TIMEOUT;
        let mut last = String::from("nothing read yet");
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let read = self.client().execute(READ_PAGE, vec![]);
            match within(&self.runtime, left, read) {
                Some(Ok(value)) => match Page::from_json(&value) {
                    Some(page) if ready(&page) => {
                        self.note(&format!(
                            "{what}: {} (theme {}, user {:?})",
                            page.url, page.theme, page.user
                        ));
                        return page;
                    }
                    Some(page) => last = format!("{page:#?}"),
                    None => last = format!("an unexpected reading: {value}"),
                },
                Some(Err(e)) => last = format!("an error: {e}"),
                None => last = "no answer".into(),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("waited {TIMEOUT:?} for {what}; last saw {last}");
    }

    /// Prints a step with the time since the browser started; shown by
    /// `cargo test --test tests browser:: -- --ignored --nocapture`, and
    /// with a failure.
    fn note(&self, step: &str) {
        let ms = self.started.elapsed().as_millis();
        println!("{ms:>6} ms  {step}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = within(&self.runtime, TIMEOUT, client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        kill_processes_using(self.dir.path());
    }
}

/// Runs `future` on `runtime` for at most `limit`; `None` when time ran out.
fn within<F: std::future::Future>(
    runtime: &tokio::runtime::Runtime,
    limit: Duration,
    future: F,
) -> Option<F::Output> {
    // Inside `async`: tokio's timer can only be created within the runtime.
    runtime.block_on(async { tokio::time::timeout(limit, future).await.ok() })
}

/// The full path of `program` on `PATH`; fails the test when it is missing.
fn installed(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(found) = std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
    {
        return found;
    }
    let install = "apt-get install chromium chromium-driver";
    if std::env::var_os("CI").is_some() {
        panic!("CI: `{program}` is not on PATH; .ci/run installs it with `{install}`");
    }
    panic!(
        "`{program}` is not on PATH: the browser tests need chromium and chromedriver; \
         on Debian or Ubuntu: `sudo {install}` (or run .ci/run as root, which does)"
    );
}

/// Starts chromedriver on a free loopback port and waits (bounded) until
/// its `/status` says it is ready. A port picked free can be taken before
/// chromedriver binds it, so a driver that exits early is tried again.
fn start_chromedriver(chromedriver: &Path, dir: &Path) -> (Child, u16) {
    let log_path = dir.join("chromedriver.log");
    for _attempt in 0..3 {
        let port = free_port();
        let log = File::create(&log_path).unwrap();
        let mut driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            // Chromium's own standard error goes to the log too, for the
            // failure message when it cannot start.
            .arg("--enable-chrome-logs")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{}", cannot_start(&format!("chromedriver: {e}"), dir)));
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if driver.try_wait().unwrap().is_some() {
                break;
            }
            if chromedriver_ready(port) {
                return (driver, port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = driver.kill();
        let _ = driver.wait();
    }
    panic!("{}", cannot_start("chromedriver never became ready", dir));
}

/// `GET /status` over raw HTTP: `"ready":true` once it takes sessions.
/// chromedriver keeps the connection open despite `Connection: close`, so
/// this reads until the body says ready, not until the end of the stream.
fn chromedriver_ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    while let Ok(n @ 1..) = stream.read(&mut chunk) {
        answer.extend_from_slice(&chunk[..n]);
        if String::from_utf8_lossy(&answer).contains("\"ready\":true") {
            return true;
        }
    }
    false
}

/// The failure message when the browser cannot start, with chromedriver's log.
fn cannot_start(reason: &str, dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("chromedriver.log")).unwrap_or_default();
    let ci = if std::env::var_os("CI").is_some() {
        "CI must run the browser tests: this is a failure, not a skip"
    } else {
        "is this a machine where headless Chromium can run?"
    };
    format!("the browser did not start: {reason}\n{ci}\nchromedriver log:\n{log}")
}

/// Kills (and waits, bounded) every process whose command line names `dir`:
/// the Chromium started with `--user-data-dir` under it, if closing the
/// session and killing chromedriver left it running. Only this guard's
/// processes match: the dir's name is random.
fn kill_processes_using(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let pids = pids_naming(&needle);
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in pids {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pids_naming(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(needle))
        })
        .collect()
}
