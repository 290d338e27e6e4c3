//! Static files from the www dir: GET and HEAD only, with validators and
//! conditional requests (RFC 9110 §8.8, §13.1-13.2), and containment: no
//! spelling of a path may reach a file outside the dir. The rules are pure
//! and live in `http::paths` (which paths name a file, its type) and
//! `http::conditional` (when a 304 answers); here is what touches the
//! disk: finding, opening and streaming a file, and the built-in ones.

use std::fs::{self, File, Metadata};
use std::io;
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::header::{CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use hyper::http::request::Parts;
use hyper::{Method, StatusCode, Uri};

mod body;

use crate::error::Error;
use crate::http::conditional::Validators;
use crate::http::encoding::hex;
use crate::http::paths::{content_type, relative_path};
use crate::http::response::{
    insert_static, method_not_allowed, not_found, options, redirect, response, Body, Response,
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
    let shown = cut(path, MAX_PATH);
    let Some(relative) = relative_path(path) else {
        trace::row(
            "static",
            format_args!("{shown}: not a route, nor a name a file could have: 404"),
        );
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
            log_event!("www: cannot read {shown}: {e}");
            Found::Missing
        }
    };
    // The miss of 2., then 3. and 4.
    let file = match found {
        Found::Missing => {
            trace::row(
                "static",
                format_args!("{shown}: not a route, and no such file in the www dir: 404"),
            );
            return Ok(not_found());
        }
        _ if parts.method == Method::OPTIONS => return Ok(options(ALLOW)),
        _ if parts.method != Method::GET && parts.method != Method::HEAD => {
            return Ok(method_not_allowed(ALLOW))
        }
        Found::Directory => return Ok(to_directory(&parts.uri)),
        Found::File(file) => file,
    };
    // 5.
    let (status, verdict) = match file.validators.not_modified(&parts.headers) {
        true => (
            StatusCode::NOT_MODIFIED,
            "the client's copy is current: 304 (the file is not read)",
        ),
        false => (StatusCode::OK, "200 with the file, streamed"),
    };
    trace::row(
        "static",
        format_args!(
            "{shown} ({} bytes, ETag {}): {verdict}",
            file.length, file.validators.etag
        ),
    );
    let mut answer = response(status, "");
    file.validators.insert_into(answer.headers_mut());
    if status == StatusCode::NOT_MODIFIED {
        return Ok(answer);
    }
    insert_static(&mut answer, CONTENT_TYPE, file.content_type);
    insert_static(&mut answer, X_CONTENT_TYPE_OPTIONS, "nosniff");
    *answer.body_mut() = file.body;
    Ok(answer)
}

/// The answer to `/dir` when `dir` is a directory: 308 to `/dir/`, the
/// query kept (RFC 9110 §15.4.9), as every web server does, so that the
/// index page's relative links resolve inside the directory.
///
/// The target is the request's own path plus `/`, and that path passed
/// `http::paths::relative_path`: it starts with `/` and a non-empty segment holding no
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
    redirect(StatusCode::PERMANENT_REDIRECT, &location)
}

/// The ETag of each built-in file, in `BUILT_IN`'s order: a hash of its
/// bytes, so it changes with the binary. Hashed once, not on every request
/// for the stylesheet.
static BUILT_IN_ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let etag = |bytes| {
        let digest = hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes)[..8]);
        format!("\"built-in-{digest}\"")
    };
    BUILT_IN.iter().map(|&(_, _, bytes)| etag(bytes)).collect()
});

/// A built-in file, versioned by the binary (`BUILT_IN_ETAGS`): it has no
/// modification date.
fn built_in(path: &str) -> Option<StaticFile> {
    let at = BUILT_IN.iter().position(|(p, _, _)| *p == path)?;
    let (_, content_type, bytes) = BUILT_IN[at];
    Some(StaticFile {
        body: Either::Left(Full::new(Bytes::from_static(bytes))),
        length: bytes.len() as u64,
        content_type,
        validators: Validators {
            etag: BUILT_IN_ETAGS[at].clone(),
            modified: None,
        },
    })
}

/// What a path names under the www dir. Expected misses are values, not
/// errors (as in hyper-staticfile's `resolve.rs`).
enum Found {
    File(StaticFile),
    /// A directory (`/dir` asked for without its slash).
    Directory,
    /// Nothing latch will serve: no such file, outside www, or not a
    /// regular file.
    Missing,
}

/// A file to serve: its validators and type come from its metadata, and
/// its contents are read only if a 200 with a body is sent.
struct StaticFile {
    /// A file on disk streamed (`FileBody`), a built-in one as it is.
    body: Body,
    /// The `Content-Length`.
    length: u64,
    content_type: &'static str,
    /// A built-in file has no modification time: its version is the
    /// binary's.
    validators: Validators,
}

/// What `relative` names under `root` (already canonical).
///
/// 1. Resolve the real path, symlinks followed, and check it is still
///    inside `root`: that is what makes a symlink out of www a 404.
/// 2. A directory is `Directory`; anything but a regular file (a FIFO, a
///    device) is `Missing`, and is never opened (opening a FIFO blocks).
/// 3. Open the file, and take the validators from the open file, so they
///    describe the very bytes that will be sent. Opening reads nothing.
fn find(root: &Path, relative: &Path) -> io::Result<Found> {
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
        validators: Validators {
            etag: etag(&meta),
            modified: Some(modified(&meta).as_secs()),
        },
        content_type: content_type(&real),
        length: meta.len(),
        body: Either::Right(Box::pin(FileBody::new(file, meta.len()))),
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
