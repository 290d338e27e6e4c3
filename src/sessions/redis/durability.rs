//! Does the server acknowledge a write only once it is on disk, and can it
//! never evict a key latch needs? (docs/contract.md, "The Redis store".)
//!
//! A logout is a write. If Redis acknowledges it and then loses it (a crash
//! before the write reached the disk, a restart from an older snapshot, an
//! eviction), a copied cookie works again. latch checks the server's
//! settings when it connects, again after every reconnect and every 10 s
//! while serving (`connection::RECHECK_EVERY`), and refuses
//! to run on a server that could lose a logout, unless the operator says
//! `--redis-durability relaxed`.

use std::collections::HashMap;

pub use crate::sessions::stored::Durability;

/// The settings a durable server has, and why each matters.
pub const REQUIRED: [(&str, &str, &str); 4] = [
    (
        "appendonly",
        "yes",
        "without the append-only file a restart loads the last snapshot, \
         which can hold sessions signed out since",
    ),
    (
        "appendfsync",
        "always",
        "otherwise Redis acknowledges a write up to a second before it is on disk",
    ),
    (
        "no-appendfsync-on-rewrite",
        "no",
        "otherwise no write is fsynced while a background save or rewrite runs",
    ),
    // `volatile-*` policies would spare the epoch keys (they never expire),
    // but not the session keys (a lost session) nor the throttle counters
    // (a guesser's count reset), which need a TTL; `allkeys-*` could evict
    // an epoch and sign back in every session "sign out everywhere" ended.
    // A `maxmemory 0` server evicts nothing today, but one `CONFIG SET`
    // changes that, so the policy itself is checked.
    (
        "maxmemory-policy",
        "noeviction",
        "any other policy lets Redis drop session, epoch or throttle keys when memory runs short",
    ),
];

/// The shortfalls of the server's settings (as `CONFIG GET` reported them),
/// one sentence each; empty when the server is durable.
pub fn shortfalls(settings: &HashMap<String, String>) -> Vec<String> {
    REQUIRED
        .iter()
        .filter_map(|&(name, needed, why)| match settings.get(name) {
            Some(found) if found.eq_ignore_ascii_case(needed) => None,
            Some(found) => Some(format!(
                "{name} is {found:?}, latch needs {needed:?}: {why}"
            )),
            None => Some(format!(
                "the server does not report {name} (latch needs {needed:?}: {why})"
            )),
        })
        .collect()
}

/// The sentence for a server whose settings cannot be read: `CONFIG` is
/// renamed or disabled (`rename-command CONFIG ""`, a managed service) or
/// refused by an ACL.
pub fn unverifiable(why: &str) -> String {
    format!(
        "its settings cannot be read (CONFIG GET refused: {why}), so latch cannot verify \
         that appendonly is \"yes\", appendfsync \"always\", no-appendfsync-on-rewrite \"no\" \
         and maxmemory-policy \"noeviction\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn a_durable_server_has_no_shortfall() {
        let durable = settings(&[
            ("appendonly", "yes"),
            ("appendfsync", "always"),
            ("no-appendfsync-on-rewrite", "no"),
            ("maxmemory-policy", "noeviction"),
        ]);
        assert!(shortfalls(&durable).is_empty());
    }

    #[test]
    fn each_shortfall_names_its_setting() {
        let debian = settings(&[
            ("appendonly", "no"),
            ("appendfsync", "everysec"),
            ("no-appendfsync-on-rewrite", "no"),
            ("maxmemory-policy", "allkeys-lru"),
        ]);
        let found = shortfalls(&debian);
        assert_eq!(found.len(), 3);
        assert!(found[0].starts_with("appendonly is \"no\""));
        assert!(found[1].starts_with("appendfsync is \"everysec\""));
        assert!(found[2].starts_with("maxmemory-policy is \"allkeys-lru\""));
        assert!(shortfalls(&HashMap::new())[3].contains("does not report maxmemory-policy"));
    }
}
