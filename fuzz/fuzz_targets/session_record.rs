//! A session file's JSON: `serde_json::from_slice::<session::Record>`, then
//! every method that reads a record, at the edges of time (`now` and the
//! idle timeout from 0 to `u64::MAX`).
#![no_main]

use latch::sessions::Record;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Equal, but for floats a few units in the last place apart: serde_json
/// (without its `float_roundtrip` feature) may read a float one unit off,
/// so a float in `data` (latch writes none) may drift on a rewrite.
/// Everything else must come back exactly.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= x.abs().max(y.abs()) * 4.0 * f64::EPSILON
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(record) = serde_json::from_slice::<Record>(data) else {
        return;
    };
    let seen = record.seen.unwrap_or(record.created);
    let mut moments = vec![0, 1, u64::MAX - 1, u64::MAX];
    for t in [record.created, record.expires, seen] {
        moments.extend([t.saturating_sub(1), t, t.saturating_add(1)]);
    }
    let timeouts = [0, 1, 60, u64::MAX - 1, u64::MAX];
    for &now in &moments {
        let max_age = record.max_age(now);
        assert_eq!(max_age, record.expires.saturating_sub(now));
        for idle in timeouts {
            let expired = record.is_expired(now, idle);
            if now >= record.expires {
                assert!(expired, "alive past its expiry");
            }
            if !expired {
                assert!(max_age > 0, "alive with a Max-Age of 0");
            }
        }
        assert_eq!(record.is_expired(now, 0), now >= record.expires);
    }
    let _ = (record.user(), record.csrf_token(), record.auth_time());
    let _ = record.holds_only_csrf();
    assert!(matches!(record.theme(), None | Some("dark" | "light")));
    // What the store reads, it writes back unchanged.
    let written = serde_json::to_vec(&record).expect("a record always serializes");
    let again: Record = serde_json::from_slice(&written).expect("what was written reads back");
    let fields = |r: &Record| (r.v, r.created, r.expires, r.seen);
    assert_eq!(fields(&again), fields(&record));
    let (data, data_again) = (
        Value::Object(record.data.clone()),
        Value::Object(again.data),
    );
    assert!(same(&data, &data_again), "{data} came back as {data_again}");
    let mut signed_out = record;
    signed_out.remove_auth();
    assert!(signed_out.data.keys().all(|k| !k.starts_with("_auth_")));
});
