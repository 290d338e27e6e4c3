//! Which sessions each user is signed in to, so that a user's oldest can
//! be ended when they hold too many (`Store::keep_newest_sign_ins`),
//! without listing the dir on every sign-in.
//!
//! It is an index, not the truth: the files are. A sign-in adds its
//! session; an entry whose file no longer holds that sign-in (signed out,
//! moved, expired) is found out and dropped when the user's sessions are
//! counted. Each sweep, which reads every file anyway, rebuilds it from
//! what it read, keeping what sign-ins added while it walked (the walk may
//! have passed their files before they were written): so sessions made
//! before a restart are counted from the first sweep on, and the index
//! holds no more than the dir does.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::sessions::id::Digest;

#[derive(Default)]
pub(super) struct SignIns {
    index: Mutex<Index>,
}

#[derive(Default)]
struct Index {
    by_user: HashMap<String, Vec<Entry>>,
    /// Sweeps begun so far.
    walks: u64,
}

#[derive(Clone, Copy)]
struct Entry {
    /// When it was signed in (unix s): oldest first.
    at: u64,
    key: Digest,
    /// `walks` when it was added.
    walk: u64,
}

/// What a sweep saw: each user's signed-in sessions.
pub(super) type Seen = HashMap<String, Vec<(u64, Digest)>>;

impl SignIns {
    /// A session now signed in as `user`, at `at`.
    pub(super) fn add(&self, user: &str, at: u64, key: Digest) {
        let mut index = self.lock();
        let walk = index.walks;
        let entries = index.by_user.entry(user.to_owned()).or_default();
        entries.retain(|e| e.key != key);
        entries.push(Entry { at, key, walk });
    }

    /// The user's sessions, oldest first, when there are more than `keep`.
    pub(super) fn past(&self, user: &str, keep: usize) -> Option<Vec<Digest>> {
        let mut index = self.lock();
        let entries = index.by_user.get_mut(user)?;
        if entries.len() <= keep {
            return None;
        }
        entries.sort_by_key(|e| e.at);
        Some(entries.iter().map(|e| e.key).collect())
    }

    /// `key` no longer holds a sign-in of `user`.
    pub(super) fn remove(&self, user: &str, key: &Digest) {
        let mut index = self.lock();
        if let Some(entries) = index.by_user.get_mut(user) {
            entries.retain(|e| e.key != *key);
            if entries.is_empty() {
                index.by_user.remove(user);
            }
        }
    }

    /// A sweep begins its walk; what it returns goes to `rebuild`.
    pub(super) fn walk_begins(&self) -> u64 {
        let mut index = self.lock();
        index.walks += 1;
        index.walks
    }

    /// The index as the walk begun at `walk` saw it, plus the sign-ins
    /// added since it began.
    pub(super) fn rebuild(&self, walk: u64, seen: Seen) {
        let mut index = self.lock();
        let mut by_user: HashMap<String, Vec<Entry>> = seen
            .into_iter()
            .map(|(user, sessions)| {
                let entries = sessions
                    .into_iter()
                    .map(|(at, key)| Entry { at, key, walk: 0 })
                    .collect();
                (user, entries)
            })
            .collect();
        for (user, entries) in &index.by_user {
            for entry in entries.iter().filter(|e| e.walk >= walk) {
                let kept = by_user.entry(user.clone()).or_default();
                if !kept.iter().any(|e| e.key == entry.key) {
                    kept.push(*entry);
                }
            }
        }
        index.by_user = by_user;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Digest {
        Digest::from_hex(&[b'0' + n; 64]).unwrap()
    }

    #[test]
    fn past_lists_the_oldest_first_only_beyond_the_cap() {
        let sign_ins = SignIns::default();
        sign_ins.add("alice", 30, key(3));
        sign_ins.add("alice", 10, key(1));
        assert!(sign_ins.past("alice", 2).is_none());
        sign_ins.add("alice", 20, key(2));
        let past = sign_ins.past("alice", 2).unwrap();
        assert_eq!(past, [key(1), key(2), key(3)]);
        sign_ins.remove("alice", &key(1));
        assert!(sign_ins.past("alice", 2).is_none());
        assert!(sign_ins.past("bob", 0).is_none());
    }

    #[test]
    fn a_rebuild_keeps_what_was_signed_in_during_the_walk() {
        let sign_ins = SignIns::default();
        sign_ins.add("alice", 1, key(1)); // gone by the walk: dropped
        let walk = sign_ins.walk_begins();
        sign_ins.add("alice", 5, key(5)); // added during the walk: kept
        let seen = Seen::from([("alice".to_owned(), vec![(2, key(2))])]);
        sign_ins.rebuild(walk, seen);
        let all = sign_ins.past("alice", 0).unwrap();
        assert_eq!(all, [key(2), key(5)]);
    }
}
