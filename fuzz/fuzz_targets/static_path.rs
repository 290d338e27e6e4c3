//! A URL path to a file under the www dir: `http::paths::relative_path`.
//! Whatever it yields is relative and made of plain names only: no `..`,
//! `.`, empty or dot-file segment, no root, no NUL, `/` or `\` in a name.
#![no_main]

use std::path::{Component, Path};

use latch::http::paths::relative_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Some(path) = relative_path(raw) else {
        return;
    };
    assert!(path.is_relative(), "absolute: {path:?}");
    assert!(path.components().count() > 0, "empty path from {raw:?}");
    for component in path.components() {
        assert!(
            matches!(component, Component::Normal(_)),
            "{component:?} in {path:?} from {raw:?}"
        );
    }
    // components() hides `.` segments, so read the names themselves.
    let text = path.to_str().expect("built from UTF-8 segments");
    for name in text.split('/') {
        assert!(
            !name.is_empty() && !name.starts_with('.'),
            "{name:?} in {raw:?}"
        );
        assert!(!name.contains(['\0', '\\']), "{name:?} in {raw:?}");
    }
    let root = Path::new("/srv/www");
    assert!(root.join(&path).starts_with(root));
});
