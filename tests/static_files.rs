//! Static files on the wire (docs/contract.md, "Static files"):
//! types and validators, conditional requests (RFC 9110 §13.1-13.2), GET
//! and HEAD only, files streamed and left unread by HEAD and 304, `/dir` to
//! `/dir/`, and containment: no spelling of a path, and no symlink, reaches
//! a file outside the www dir.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use crate::support::{Response, Server, TempDir};

/// What the file outside www holds; no response may ever contain it.
const SECRET: &str = "SECRET-OUTSIDE-WWW";
const STYLE: &str = "body { color: teal; }\n";
const A_TXT: &str = "plain text from www\n";
const DOCS_INDEX: &str = "<!doctype html><p>DOCS-INDEX</p>\n";
const WWW_INDEX: &str = "<!doctype html><p>WWW-INDEX</p>\n";

/// A server whose www dir is a fresh temp dir laid out as:
///
/// ```text
/// <root>/secret.txt                    outside www
/// <root>/outside/secret.txt            outside www
/// <root>/www/index.html, style.css, a.txt, .hidden, docs/index.html
/// <root>/www/link-to-secret.txt     -> <root>/secret.txt
/// <root>/www/link-to-outside-dir    -> <root>/outside
/// ```
struct Site {
    server: Server,
    www: PathBuf,
    // Dropped after `server`: removes the files once the server is gone.
    _root: TempDir,
}

impl Site {
    /// The `Last-Modified` a plain GET of `path` answers with.
    fn last_modified(&self, path: &str) -> String {
        self.get(path).header("last-modified").unwrap().to_string()
    }

    fn start() -> Site {
        let root = TempDir::new();
        let www = root.path().join("www");
        fs::create_dir_all(www.join("docs")).unwrap();
        fs::create_dir_all(root.path().join("outside")).unwrap();
        fs::write(root.path().join("secret.txt"), SECRET).unwrap();
        fs::write(root.path().join("outside/secret.txt"), SECRET).unwrap();
        fs::write(www.join("index.html"), WWW_INDEX).unwrap();
        fs::write(www.join("style.css"), STYLE).unwrap();
        fs::write(www.join("a.txt"), A_TXT).unwrap();
        fs::write(www.join(".hidden"), SECRET).unwrap();
        fs::write(www.join("docs/index.html"), DOCS_INDEX).unwrap();
        symlink(
            root.path().join("secret.txt"),
            www.join("link-to-secret.txt"),
        )
        .unwrap();
        symlink(root.path().join("outside"), www.join("link-to-outside-dir")).unwrap();
        let server = Server::start(&[&format!("--www={}", www.display())]);
        Site {
            server,
            www,
            _root: root,
        }
    }

    fn get(&self, path: &str) -> Response {
        self.server.get(path, None)
    }

    fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.server.send("GET", path, None, headers, "")
    }

    /// `GET target` written byte for byte, so nothing on the client side
    /// normalizes the path.
    fn raw_get(&self, target: &[u8]) -> Response {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(target);
        request.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        self.server.raw(&request)
    }
}

/// An IMF-fixdate long before any file in these tests was written.
const LONG_AGO: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

#[test]
fn a_file_is_served_with_its_type_length_and_validators() {
    let site = Site::start();
    for (path, content_type, body) in [
        ("/style.css", "text/css; charset=utf-8", STYLE),
        ("/a.txt", "text/plain; charset=utf-8", A_TXT),
        ("/docs/index.html", "text/html; charset=utf-8", DOCS_INDEX),
    ] {
        let response = site.get(path);
        assert_eq!(response.status_line, "HTTP/1.1 200 OK", "{path}");
        assert_eq!(
            response.header("content-type"),
            Some(content_type),
            "{path}"
        );
        let length = body.len().to_string();
        assert_eq!(
            response.header("content-length"),
            Some(length.as_str()),
            "{path}"
        );
        assert_eq!(response.text(), body, "{path}");
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert!(response.header("etag").is_some(), "{path}: ETag");
        assert!(
            response.header("last-modified").is_some(),
            "{path}: Last-Modified"
        );
    }
}

#[test]
fn an_unknown_extension_is_served_as_opaque_bytes() {
    let site = Site::start();
    fs::write(site.www.join("data.bin"), [0u8, 1, 2, 255]).unwrap();
    let response = site.get("/data.bin");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(response.body, [0u8, 1, 2, 255]);
}

#[test]
fn if_none_match_with_the_etag_is_304() {
    let site = Site::start();
    let etag = site.get("/a.txt").header("etag").unwrap().to_string();
    let response = site.get_with("/a.txt", &[("If-None-Match", &etag)]);
    assert_eq!(response.status_line, "HTTP/1.1 304 Not Modified");
    assert_eq!(response.header("etag"), Some(etag.as_str()));
}

#[test]
fn if_none_match_with_the_weak_etag_is_304() {
    let site = Site::start();
    let etag = site.get("/a.txt").header("etag").unwrap().to_string();
    let weak = format!("W/{etag}");
    let response = site.get_with("/a.txt", &[("If-None-Match", &weak)]);
    assert_eq!(response.status, 304);
}

#[test]
fn if_none_match_star_is_304() {
    let site = Site::start();
    let response = site.get_with("/a.txt", &[("If-None-Match", "*")]);
    assert_eq!(response.status, 304);
}

#[test]
fn if_none_match_with_another_etag_is_200() {
    let site = Site::start();
    let response = site.get_with("/a.txt", &[("If-None-Match", "\"not-this-one\"")]);
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), A_TXT);
}

#[test]
fn if_modified_since_equal_to_last_modified_is_304() {
    let site = Site::start();
    let modified = site.last_modified("/a.txt");
    let response = site.get_with("/a.txt", &[("If-Modified-Since", &modified)]);
    assert_eq!(response.status, 304);
    assert_eq!(response.header("last-modified"), Some(modified.as_str()));
}

#[test]
fn if_modified_since_an_older_date_is_200() {
    let site = Site::start();
    let response = site.get_with("/a.txt", &[("If-Modified-Since", LONG_AGO)]);
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), A_TXT);
}

#[test]
fn a_non_matching_if_none_match_wins_over_a_matching_if_modified_since() {
    // RFC 9110 §13.1.3: a recipient must ignore If-Modified-Since when the
    // request carries If-None-Match.
    let site = Site::start();
    let modified = site.last_modified("/a.txt");
    let response = site.get_with(
        "/a.txt",
        &[
            ("If-None-Match", "\"not-this-one\""),
            ("If-Modified-Since", &modified),
        ],
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), A_TXT);
}

#[test]
fn a_directory_path_with_a_slash_serves_its_index_html() {
    let site = Site::start();
    let response = site.get("/docs/");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(response.text(), DOCS_INDEX);
}

#[test]
fn root_is_the_home_page_not_www_index_html() {
    let site = Site::start();
    let response = site.get("/");
    assert_eq!(response.status, 200);
    assert!(!response.text().contains("WWW-INDEX"));
    assert!(response.text().contains("href=\"/login\""));
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

#[test]
fn head_on_a_file_sends_its_length_and_no_body() {
    let site = Site::start();
    let bytes = site
        .server
        .raw_until_close(b"HEAD /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let text = String::from_utf8(bytes).unwrap();
    let (head, after) = text.split_once("\r\n\r\n").expect("a complete head");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains(&format!("\r\ncontent-length: {}\r\n", A_TXT.len())),
        "{head}"
    );
    assert!(lower.contains("\r\netag: "), "{head}");
    assert!(lower.contains("\r\ncontent-type: text/plain"), "{head}");
    assert_eq!(after, "", "HEAD sent a body");
}

#[test]
fn post_to_an_existing_file_is_405_with_allow_get_head_options() {
    let site = Site::start();
    let response = site.server.post("/a.txt", None, "");
    assert_eq!(response.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(response.header("allow"), Some("GET, HEAD, OPTIONS"));
}

#[test]
fn options_on_a_file_is_204_with_allow_get_head_options() {
    let site = Site::start();
    let response = site.server.send("OPTIONS", "/a.txt", None, &[], "");
    assert_eq!(response.status, 204);
    assert_eq!(response.header("allow"), Some("GET, HEAD, OPTIONS"));
}

#[test]
fn post_to_a_missing_file_is_404() {
    let site = Site::start();
    let response = site.server.post("/missing.txt", None, "");
    assert_eq!(response.status, 404);
}

#[test]
fn every_spelling_of_a_path_out_of_www_is_404() {
    let site = Site::start();
    for target in [
        &b"/../secret.txt"[..],
        b"/%2e%2e/secret.txt",
        b"/%2E%2E/secret.txt",
        b"/.%2e/secret.txt",
        b"/..%2fsecret.txt",
        b"/docs/..%2f..%2fsecret.txt",
        b"/docs/../../secret.txt",
        b"/..%5csecret.txt",
        b"/..\\secret.txt",
        b"/docs\\..\\..\\secret.txt",
        b"/%00",
        b"/a.txt%00.html",
        b"//etc/passwd",
        b"/link-to-secret.txt",
        b"/link-to-outside-dir/secret.txt",
        b"/.hidden",
        b"/docs/%2e%2e/%2e%2e/secret.txt",
    ] {
        let shown = String::from_utf8_lossy(target);
        let response = site.raw_get(target);
        assert_eq!(response.status, 404, "{shown}");
        assert!(!response.text().contains(SECRET), "{shown} leaked the file");
    }
}

#[test]
fn a_raw_nul_in_a_file_path_is_400_or_404() {
    let site = Site::start();
    let response = site.raw_get(b"/a.txt\0.html");
    assert!(
        [400, 404].contains(&response.status),
        "{}",
        response.status_line
    );
    assert!(!response.text().contains(A_TXT));
}

#[test]
fn a_symlink_inside_www_to_a_file_inside_www_is_served() {
    // The symlink check is about where a link points, not that it is one.
    let site = Site::start();
    symlink(site.www.join("a.txt"), site.www.join("alias.txt")).unwrap();
    let response = site.get("/alias.txt");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), A_TXT);
}

#[test]
fn a_missing_www_dir_still_serves_the_pages_and_the_built_in_stylesheet() {
    let root = TempDir::new();
    let missing = root.path().join("no-such-www");
    let server = Server::start(&[&format!("--www={}", missing.display())]);

    let home = server.get("/", None);
    assert_eq!(home.status, 200);
    assert_eq!(
        home.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(home.text().contains("<html"));

    let style = server.get("/style.css", None);
    assert_eq!(style.status, 200);
    assert_eq!(
        style.header("content-type"),
        Some("text/css; charset=utf-8")
    );
    assert!(!style.body.is_empty());
    // Versioned by the binary: the same ETag every time, so a 304 answers.
    let etag = style.header("etag").unwrap();
    assert!(etag.starts_with("\"built-in-"), "{etag}");
    let again = server.send("GET", "/style.css", None, &[("if-none-match", etag)], "");
    assert_eq!(again.status, 304);
    assert_eq!(again.header("etag"), Some(etag));

    assert_eq!(server.get("/a.txt", None).status, 404);
}

/// 16 MiB whose every 64 KiB chunk differs from the others, so a chunk
/// sent twice, skipped or out of order shows.
fn large_file() -> Vec<u8> {
    (0u32..16 << 20)
        .map(|i| (i ^ (i >> 8) ^ (i >> 16)) as u8)
        .collect()
}

/// A site with `large.bin` (16 MiB) in its www dir.
fn site_with_a_large_file() -> (Site, Vec<u8>) {
    let site = Site::start();
    let bytes = large_file();
    fs::write(site.www.join("large.bin"), &bytes).unwrap();
    (site, bytes)
}

/// Far below the 16 MiB file: what a request head and a few small reads
/// (the users file, a directory scan) may cost the server.
const READ_BUDGET: u64 = 1 << 20;

#[test]
fn a_16_mib_file_is_sent_byte_exact_with_its_length() {
    let (site, bytes) = site_with_a_large_file();
    let response = site.get("/large.bin");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    assert_eq!(response.body.len(), bytes.len());
    assert!(response.body == bytes, "the body differs from the file");
}

#[test]
fn head_of_a_16_mib_file_reads_none_of_it() {
    let (site, bytes) = site_with_a_large_file();
    let before = site.server.bytes_read();
    let response = site.server.send("HEAD", "/large.bin", None, &[], "");
    let read = site.server.bytes_read() - before;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    assert!(read < READ_BUDGET, "HEAD read {read} bytes");

    // The measure sees file reads: a GET reads the whole file.
    let before = site.server.bytes_read();
    assert_eq!(site.get("/large.bin").body.len(), bytes.len());
    let read = site.server.bytes_read() - before;
    assert!(read >= bytes.len() as u64, "GET read only {read} bytes");
}

#[test]
fn a_304_for_a_16_mib_file_reads_none_of_it() {
    let (site, _) = site_with_a_large_file();
    let head = site.server.send("HEAD", "/large.bin", None, &[], "");
    let etag = head.header("etag").unwrap().to_string();
    let modified = head.header("last-modified").unwrap().to_string();
    for validator in [
        ("If-None-Match", etag.as_str()),
        ("If-Modified-Since", &modified),
    ] {
        let before = site.server.bytes_read();
        let response = site.get_with("/large.bin", &[validator]);
        let read = site.server.bytes_read() - before;
        assert_eq!(response.status, 304, "{validator:?}");
        assert!(
            read < READ_BUDGET,
            "{validator:?}: the 304 read {read} bytes"
        );
    }
}

#[test]
fn a_directory_without_its_slash_is_308_to_the_slash() {
    let site = Site::start();
    let response = site.get("/docs");
    assert_eq!(response.status_line, "HTTP/1.1 308 Permanent Redirect");
    assert_eq!(response.header("location"), Some("/docs/"));
    let head = site.server.send("HEAD", "/docs", None, &[], "");
    assert_eq!(head.status, 308);
    assert_eq!(head.header("location"), Some("/docs/"));
    // Where it leads: the directory's index.
    assert_eq!(site.get("/docs/").text(), DOCS_INDEX);
}

#[test]
fn a_directory_redirect_keeps_the_query() {
    let site = Site::start();
    let response = site.get("/docs?page=2&q=a%20b");
    assert_eq!(response.status, 308);
    assert_eq!(response.header("location"), Some("/docs/?page=2&q=a%20b"));
}

#[test]
fn a_nested_directory_redirect_keeps_the_whole_path() {
    let site = Site::start();
    fs::create_dir_all(site.www.join("docs/guide")).unwrap();
    let response = site.get("/docs/guide?x");
    assert_eq!(response.status, 308);
    assert_eq!(response.header("location"), Some("/docs/guide/?x"));
}

#[test]
fn no_directory_redirect_points_off_the_site_or_out_of_www() {
    let site = Site::start();
    fs::create_dir_all(site.www.join("evil.example")).unwrap();
    for target in [
        &b"//evil.example"[..],
        b"///evil.example",
        b"/%2fevil.example",
        b"/%2Fevil.example",
        b"/\\evil.example",
        b"/%5cevil.example",
        b"/./evil.example",
        b"/docs/../evil.example",
        b"/link-to-outside-dir",
    ] {
        let shown = String::from_utf8_lossy(target);
        let response = site.raw_get(target);
        assert!(
            [400, 404].contains(&response.status),
            "{shown}: {}",
            response.status_line
        );
        assert_eq!(response.header("location"), None, "{shown}");
    }
    // The plain spelling is a local redirect.
    let response = site.get("/evil.example");
    assert_eq!(response.header("location"), Some("/evil.example/"));
}

#[test]
fn post_to_a_directory_is_405_not_a_redirect() {
    let site = Site::start();
    let response = site.server.post("/docs", None, "");
    assert_eq!(response.status, 405);
    assert_eq!(response.header("location"), None);
}

#[test]
fn if_modified_since_with_a_year_of_many_digits_is_a_plain_200() {
    let site = Site::start();
    for year in [
        "99999999999999999999",
        "18446744073709551615",
        "9999999999999999999",
        "0000",
        "0",
    ] {
        let date = format!("Sun, 06 Nov {year} 08:49:37 GMT");
        let response = site.get_with("/a.txt", &[("If-Modified-Since", &date)]);
        assert_eq!(response.status, 200, "{date}");
        assert_eq!(response.text(), A_TXT, "{date}");
    }
    assert_eq!(site.get("/a.txt").status, 200, "the server still answers");
}
