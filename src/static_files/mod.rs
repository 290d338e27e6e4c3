//! Static files from the www dir: GET and HEAD only, with validators and
//! conditional requests (RFC 9110 §8.8, §13.1-13.2), and containment: no
//! spelling of a path may reach a file outside the dir.

use std::fs::{self, File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use hyper::header::{
    HeaderMap, HeaderValue, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
    X_CONTENT_TYPE_OPTIONS,
};
use hyper::http::request::Parts;
use hyper::{Method, StatusCode, Uri};

mod body;

use crate::error::Error;
use crate::http::body::Body;
use crate::http::dates::{http_date, parse_http_date};
use crate::http::encoding::percent_decode;
use crate::http::response::{
    method_not_allowed, not_found, options, permanent_redirect, response, Response,
};
use crate::log::{cut, MAX_PATH};
use crate::log_event;
use crate::os::blocking;
use crate::trace;
use body::FileBody;

/// The methods a static file takes.
const ALLOW: &str = "GET, HEAD, OPTIONS";

/// Files the pages need even when there is no www dir: the binary carries
/// them, and a file of the same name in www takes precedence.
const BUILT_IN: &[(&str, &str, &[u8])] = &[
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../www/style.css"),
    ),
    (
        "/favicon.svg",
        "image/svg+xml",
        include_bytes!("../../www/favicon.svg"),
    ),
];

/// Answers a request for a path latch does not route itself.
///
/// 1. Turn the URL path into a contained relative path, or 404.
/// 2. Find the file under www (or built in), or 404: a miss is a 404
///    whatever the method, so probing methods reveals nothing.
/// 3. GET and HEAD only (405 with `Allow`; OPTIONS lists them).
/// 4. A directory named without its slash: 308 to the name with it.
/// 5. 304 when the client's copy is current, else 200 with the file,
///    streamed. A HEAD or a 304 drops the open file unread.
pub async fn respond(www_root: Option<&Path>, parts: &Parts) -> Result<Response, Error> {
    let path = parts.uri.path();
    // 1.
    let Some(relative) = relative_path(path) else {
        return Ok(not_found());
    };
    // 2.
    let on_disk = match www_root.map(Path::to_path_buf) {
        Some(root) => blocking::run(move || find(&root, &relative)).await?,
        None => Ok(Found::Missing),
    };
    let found = match on_disk {
        Ok(Found::Missing) => built_in(path).map_or(Found::Missing, Found::File),
        Ok(found) => found,
        Err(e) => {
            log_event!("www: cannot read {}: {e}", cut(path, MAX_PATH));
            Found::Missing
        }
    };
    if let Found::Missing = found {
        return Ok(not_found());
    }
    // 3.
    match parts.method {
        Method::GET | Method::HEAD => {}
        Method::OPTIONS => return Ok(options(ALLOW)),
        _ => return Ok(method_not_allowed(ALLOW)),
    }
    // 4.
    let file = match found {
        Found::File(file) => file,
        Found::Directory => return Ok(to_directory(&parts.uri)),
        Found::Missing => return Ok(not_found()), // answered at 2. already
    };
    // 5.
    let fresh = not_modified(&parts.headers, &file);
    let verdict = if fresh {
        "the client's copy is current: 304 (the file is not read)"
    } else {
        "200 with the file, streamed"
    };
    trace::row(
        "static",
        format_args!(
            "{} ({} bytes, ETag {}): {verdict}",
            cut(path, MAX_PATH),
            file.length,
            file.etag
        ),
    );
    if fresh {
        return Ok(with_validators(
            response(StatusCode::NOT_MODIFIED, ""),
            &file,
        ));
    }
    let mut ok = with_validators(response(StatusCode::OK, ""), &file);
    let h = ok.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(file.content_type));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    *ok.body_mut() = file.body();
    Ok(ok)
}

/// The answer to `/dir` when `dir` is a directory: 308 to `/dir/`, the
/// query kept (RFC 9110 §15.4.9), as every web server does, so that the
/// index page's relative links resolve inside the directory.
///
/// The target is the request's own path plus `/`, and that path passed
/// `relative_path`: it starts with `/` and a non-empty segment holding no
/// `/` or `\` in any spelling, so it can never read as `//host` or
/// `/\host` (a network-path reference, RFC 3986 §4.2): the redirect stays
/// on this site. `/dir/` itself, when `dir/index.html` is a directory,
/// gets a 404 rather than a redirect to `/dir//`.
fn to_directory(uri: &Uri) -> Response {
    let path = uri.path();
    if path.ends_with('/') {
        return not_found();
    }
    let location = match uri.query() {
        Some(query) => format!("{path}/?{query}"),
        None => format!("{path}/"),
    };
    trace::row(
        "static",
        format_args!("a directory: 308 to {}", cut(&location, MAX_PATH)),
    );
    permanent_redirect(&location)
}

/// `ETag` and `Last-Modified`, sent with a 200 and repeated with a 304
/// (RFC 9110 §15.4.5).
fn with_validators(mut response: Response, file: &StaticFile) -> Response {
    let h = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&file.etag) {
        h.insert(ETAG, etag);
    }
    if let Some(Ok(date)) = file.modified.map(|t| HeaderValue::from_str(&http_date(t))) {
        h.insert(LAST_MODIFIED, date);
    }
    response
}

/// A built-in file, versioned by the binary: its ETag is a hash of its
/// bytes, and it has no modification date.
fn built_in(path: &str) -> Option<StaticFile> {
    let &(_, content_type, bytes) = BUILT_IN.iter().find(|(p, _, _)| *p == path)?;
    let digest = crate::http::encoding::hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes)[..8]);
    Some(StaticFile {
        contents: Contents::BuiltIn(bytes),
        length: bytes.len() as u64,
        content_type,
        etag: format!("\"built-in-{digest}\""),
        modified: None,
    })
}

/// What a path names under the www dir. Expected misses are values, not
/// errors (as in hyper-staticfile's `resolve.rs`).
pub enum Found {
    File(StaticFile),
    /// A directory (`/dir` asked for without its slash).
    Directory,
    /// Nothing latch will serve: no such file, outside www, or not a
    /// regular file.
    Missing,
}

/// A file to serve: its validators and type come from its metadata, and
/// its contents are read only if a 200 with a body is sent.
pub struct StaticFile {
    pub contents: Contents,
    /// The `Content-Length`.
    pub length: u64,
    pub content_type: &'static str,
    pub etag: String,
    /// Modification time, unix seconds (the `Last-Modified` value); `None`
    /// for a built-in file, whose version is the binary's.
    pub modified: Option<u64>,
}

pub enum Contents {
    /// Opened under www, not yet read.
    Disk(File),
    /// Carried in the binary.
    BuiltIn(&'static [u8]),
}

impl StaticFile {
    /// The 200's body: a file on disk streamed, a built-in one as it is.
    fn body(self) -> Body {
        match self.contents {
            Contents::Disk(file) => Body::stream(FileBody::new(file, self.length)),
            Contents::BuiltIn(bytes) => Body::full(Bytes::from_static(bytes)),
        }
    }
}

/// Turns a raw URL path into a path relative to the www dir, or `None`.
///
/// 1. Split the *raw* path on `/` before decoding, so `%2F` stays inside a
///    segment instead of becoming a separator.
/// 2. Percent-decode each segment; refuse it if it is empty (`//`), `.` or
///    `..`, starts with `.` (dotfiles such as `.git` or `.htpasswd` are not
///    published), or holds `/`, `\` or NUL, or is not UTF-8.
/// 3. A path ending in `/` names the directory's `index.html`.
///
/// Only plain names survive (hyper-staticfile keeps only
/// `Component::Normal` for the same reason), so the result cannot climb out
/// of the directory it is joined to. Symlinks are checked by `find`.
pub fn relative_path(raw_path: &str) -> Option<PathBuf> {
    let rest = raw_path.strip_prefix('/')?;
    let mut path = PathBuf::new();
    let mut segments = rest.split('/').peekable();
    while let Some(raw) = segments.next() {
        // 3.
        if raw.is_empty() && segments.peek().is_none() {
            path.push("index.html");
            break;
        }
        // 1., 2.
        let decoded = String::from_utf8(percent_decode(raw.as_bytes())).ok()?;
        let refused =
            decoded.is_empty() || decoded.starts_with('.') || decoded.contains(['/', '\\', '\0']);
        if refused {
            return None;
        }
        path.push(decoded);
    }
    Some(path)
}

/// What `relative` names under `root` (already canonical).
///
/// 1. Resolve the real path, symlinks followed, and check it is still
///    inside `root`: that is what makes a symlink out of www a 404.
/// 2. A directory is `Directory`; anything but a regular file (a FIFO, a
///    device) is `Missing`, and is never opened (opening a FIFO blocks).
/// 3. Open the file, and take the validators from the open file, so they
///    describe the very bytes that will be sent. Opening reads nothing.
pub fn find(root: &Path, relative: &Path) -> io::Result<Found> {
    // 1.
    let real = match fs::canonicalize(root.join(relative)) {
        Ok(real) => real,
        Err(e) if is_miss(&e) => return Ok(Found::Missing),
        Err(e) => return Err(e),
    };
    if !real.starts_with(root) {
        return Ok(Found::Missing);
    }
    // 2.
    let meta = fs::metadata(&real)?;
    if meta.is_dir() {
        return Ok(Found::Directory);
    }
    if !meta.is_file() {
        return Ok(Found::Missing);
    }
    // 3.
    let file = File::open(&real)?;
    let meta = file.metadata()?;
    Ok(Found::File(StaticFile {
        etag: etag(&meta),
        content_type: content_type(&real),
        length: meta.len(),
        modified: Some(modified(&meta).as_secs()),
        contents: Contents::Disk(file),
    }))
}

/// Expected misses: nothing there, a file used as a directory, or a name
/// too long for the file system (`ENAMETOOLONG`: no file can have it).
fn is_miss(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename
    )
}

/// Time of last modification since the Unix epoch (zero if unknown).
fn modified(meta: &Metadata) -> Duration {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default()
}

/// A strong entity tag (RFC 9110 §8.8.3) from size and modification time
/// (nanoseconds), the way nginx and Apache derive theirs: it changes when
/// the file does, without reading or hashing it.
fn etag(meta: &Metadata) -> String {
    format!("\"{:x}-{:x}\"", meta.len(), modified(meta).as_nanos())
}

/// Whether the client's cached copy is current, so a 304 can answer
/// (RFC 9110 §13.2.2: `If-None-Match` first; `If-Modified-Since` only
/// when there is no `If-None-Match`).
pub fn not_modified(headers: &HeaderMap, file: &StaticFile) -> bool {
    if let Some(value) = headers.get(IF_NONE_MATCH) {
        return if_none_match_hits(value.as_bytes(), &file.etag);
    }
    headers
        .get(IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
        .zip(file.modified)
        .is_some_and(|(since, modified)| modified <= since)
}

/// `If-None-Match: "a", W/"b"` or `*`, compared weakly (RFC 9110 §13.1.2:
/// the `W/` prefix is ignored for this header).
fn if_none_match_hits(value: &[u8], etag: &str) -> bool {
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// `Content-Type` by extension; unknown types are sent as opaque bytes,
/// and `nosniff` keeps browsers from guessing otherwise.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_resolve_to_plain_relative_paths() {
        assert_eq!(relative_path("/style.css"), Some("style.css".into()));
        assert_eq!(relative_path("/a/b.txt"), Some("a/b.txt".into()));
        assert_eq!(relative_path("/"), Some("index.html".into()));
        assert_eq!(relative_path("/docs/"), Some("docs/index.html".into()));
        assert_eq!(
            relative_path("/with%20space.txt"),
            Some("with space.txt".into())
        );
    }

    #[test]
    fn every_traversal_spelling_is_refused() {
        for bad in [
            "/..",
            "/../secret",
            "/a/../../secret",
            "/%2e%2e/secret",
            "/%2E%2E/secret",
            "/.%2e/secret",
            "/..%2fsecret",
            "/a%2f..%2f..%2fsecret",
            "/..%5csecret",
            "/a\\..\\secret",
            "/%00",
            "/a%00.css",
            "/./style.css",
            "//etc/passwd",
            "/a//b",
            "/.git/config",
            "/.htpasswd",
            "/%ff",
            "relative",
            "",
        ] {
            assert_eq!(relative_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists() {
        let etag = "\"3-1\"";
        assert!(if_none_match_hits(b"\"3-1\"", etag));
        assert!(if_none_match_hits(b"W/\"3-1\"", etag));
        assert!(if_none_match_hits(b"\"x\", \"3-1\"", etag));
        assert!(if_none_match_hits(b"*", etag));
        assert!(!if_none_match_hits(b"\"3-2\"", etag));
        assert!(!if_none_match_hits(b"3-1", etag));
    }

    #[test]
    fn types_come_from_the_extension() {
        assert_eq!(content_type(Path::new("a.CSS")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("favicon.ico")), "image/x-icon");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
