//! URL paths as file names: which spellings of a path name a file inside
//! a directory (none may climb out of it), and the type a name's extension
//! says its file holds.

use std::path::{Path, PathBuf};

use super::encoding::percent_decode;

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
/// of the directory it is joined to. Symlinks are checked where the file is
/// looked up (`static_files::find`).
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
    fn types_come_from_the_extension() {
        assert_eq!(content_type(Path::new("a.CSS")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("favicon.ico")), "image/x-icon");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
