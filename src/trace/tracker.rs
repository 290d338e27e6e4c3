//! The variable tracker: the request's session before and after it ran,
//! as a lesson shows `request.user.is_authenticated` and
//! `request.session.exists()` on either side of `logout()`, but from the
//! values that ran. `auth::session` says which session the request chose
//! (`before`), the store says each change it made (`changed`), and the
//! answer's `Set-Cookie` says which session the browser holds after
//! (`Tracker::finish`).
//!
//! Pure values: strings a learner reads, secrets already cut by whoever
//! made them (`sessions::store::Store::seen`).

use std::fmt;

use super::MAX_LINE;

/// Where a session is stored, by the name a learner can look up: a file
/// by its path (`ls sessions/`), or a Redis key (`redis-cli GET`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// `file` or `key`.
    pub kind: &'static str,
    pub name: String,
}

/// One session as the tracker shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Its label (the first 12 hex digits of its file name), as the
    /// access log and `latch sessions` name it.
    pub label: String,
    pub place: Place,
    /// The signed-in user.
    pub user: Option<String>,
    /// `_csrf`, cut.
    pub csrf: Option<String>,
    /// The data that is not about signing in, as JSON: `{"theme":"dark"}`.
    pub data: String,
    /// The whole record as JSON, secrets cut.
    pub record: String,
}

/// What the request did to one stored session, in the order it ran.
#[derive(Debug)]
pub enum Change {
    Created(Seen),
    Rewritten(Seen),
    Deleted { label: String, place: Place },
}

/// The request's session at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum State {
    /// The request never looked its session up (a refused method, a file).
    #[default]
    NotRead,
    /// No live session.
    NoSession,
    Session(Seen),
}

/// What the answer did to the session cookie.
#[derive(Debug)]
pub enum CookieSet {
    /// No `Set-Cookie` for it: the browser sends the same one next time.
    Kept,
    /// A new value (cut), and the label of the session it names.
    New { shown: String, label: String },
    /// The removal cookie (`Max-Age=0`).
    Removed,
}

/// One request's tracker, filled while it runs.
#[derive(Debug, Default)]
pub struct Tracker {
    before: State,
    changes: Vec<Change>,
}

impl Tracker {
    /// The session the request chose; the first choice stands (a handler
    /// that looks again sees what it changed itself), and a later look is
    /// not even built.
    pub(super) fn before(&mut self, seen: impl FnOnce() -> Option<Seen>) {
        if self.before == State::NotRead {
            self.before = seen().map_or(State::NoSession, |s| State::Session(s.bounded()));
        }
    }

    pub(super) fn changed(&mut self, change: Change) {
        self.changes.push(match change {
            Change::Created(seen) => Change::Created(seen.bounded()),
            Change::Rewritten(seen) => Change::Rewritten(seen.bounded()),
            deleted => deleted,
        });
    }

    /// Before → after. `sent`: the session cookie the request carried
    /// (cut), `set`: what the answer did to it. The session after is the
    /// one the browser's cookie names once the answer arrives, as this
    /// request last wrote it.
    pub fn finish(self, sent: Option<String>, set: CookieSet) -> Changed {
        let after = self.after(&set);
        let sent_shown = sent.unwrap_or_else(|| "none".into());
        let cookie_after = match set {
            CookieSet::Kept => sent_shown.clone(),
            CookieSet::New { shown, .. } => shown,
            CookieSet::Removed => "removed".into(),
        };
        Changed {
            before: self.before,
            after,
            cookie: (sent_shown, cookie_after),
            changes: self.changes,
        }
    }

    fn after(&self, set: &CookieSet) -> State {
        let label = match (set, &self.before) {
            (CookieSet::Removed, _) => return State::NoSession,
            (CookieSet::New { label, .. }, _) => label,
            (CookieSet::Kept, State::Session(seen)) => &seen.label,
            (CookieSet::Kept, other) => return other.clone(),
        };
        for change in self.changes.iter().rev() {
            match change {
                Change::Created(seen) | Change::Rewritten(seen) if seen.label == *label => {
                    return State::Session(seen.clone())
                }
                Change::Deleted { label: gone, .. } if gone == label => return State::NoSession,
                _ => {}
            }
        }
        match &self.before {
            State::Session(seen) if seen.label == *label => self.before.clone(),
            // A cookie naming a session this request neither read nor wrote.
            _ => State::NotRead,
        }
    }
}

/// The tracker's answer: the request's session before and after, the
/// cookie, and every change to the store in order.
#[derive(Debug)]
pub struct Changed {
    before: State,
    after: State,
    /// The session cookie as sent, and as the browser holds it after.
    pub cookie: (String, String),
    changes: Vec<Change>,
}

impl Changed {
    /// Whether the request read its session at all, or wrote any.
    pub fn looked(&self) -> bool {
        self.before != State::NotRead || !self.changes.is_empty()
    }

    /// The variables a learner follows: each its name, its value before,
    /// its value after.
    pub fn variables(&self) -> [(&'static str, String, String); 5] {
        let row = |name, none, of: fn(&Seen) -> &str| {
            (name, self.before.show(none, of), self.after.show(none, of))
        };
        [
            row("signed in", "-", |seen| seen.user.as_deref().unwrap_or("-")),
            row("session", "none", |seen| &seen.label),
            ("cookie", self.cookie.0.clone(), self.cookie.1.clone()),
            row("_csrf", "none", |seen| {
                seen.csrf.as_deref().unwrap_or("none")
            }),
            row("data", "none", |seen| &seen.data),
        ]
    }

    /// What happened in the store, in order (`file sessions/….json
    /// created`); when nothing was written, the session as read.
    pub fn stored(&self) -> Vec<String> {
        if self.changes.is_empty() {
            return match &self.before {
                State::Session(seen) => vec![format!("{} read, not written", seen.place)],
                _ => Vec::new(),
            };
        }
        self.changes.iter().map(Change::to_string).collect()
    }

    /// The request's record before and after, when it wrote anything
    /// (`None`: it wrote nothing).
    pub fn records(&self) -> Option<(String, String)> {
        let record = |state: &State| state.show("none: no session", |seen| &seen.record);
        (!self.changes.is_empty()).then(|| (record(&self.before), record(&self.after)))
    }

    /// Whether the session the browser holds after was rewritten in place.
    pub fn rewritten(&self) -> bool {
        let State::Session(after) = &self.after else {
            return false;
        };
        self.changes
            .iter()
            .any(|c| matches!(c, Change::Rewritten(seen) if seen.label == after.label))
    }
}

/// `before → after`, or `value (unchanged)`.
pub fn before_after(before: &str, after: &str) -> String {
    if before == after {
        format!("{before} (unchanged)")
    } else {
        format!("{before} → {after}")
    }
}

/// The `changed` row of the table: each variable before → after, each
/// change to the store, and the records when the request wrote.
impl fmt::Display for Changed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.looked() {
            return write!(
                f,
                "nothing: this request did not look its session up\n{:<12} {}",
                "cookie",
                before_after(&self.cookie.0, &self.cookie.1)
            );
        }
        let mut lines = Vec::new();
        for (name, before, after) in self.variables() {
            lines.push(format!("{name:<12} {}", before_after(&before, &after)));
        }
        for change in self.stored() {
            lines.push(format!("{:<12} {change}", "store"));
        }
        if let Some((before, after)) = self.records() {
            lines.push(format!("{:<12} before {before}", "record"));
            lines.push(format!("{:<12} after  {after}", ""));
        }
        f.write_str(&lines.join("\n"))
    }
}

impl State {
    /// A value `of` the session; `none` when there was no live one.
    fn show(&self, none: &str, of: fn(&Seen) -> &str) -> String {
        match self {
            State::NotRead => "(not read)",
            State::NoSession => none,
            State::Session(seen) => of(seen),
        }
        .to_owned()
    }
}

impl Seen {
    /// Each value at most `MAX_LINE` bytes: a record is latch's own, but
    /// the one under a session's name may be up to 64 KiB.
    fn bounded(self) -> Seen {
        let cut = |text: String| crate::log::cut(&text, MAX_LINE).into_owned();
        Seen {
            label: cut(self.label),
            place: Place {
                kind: self.place.kind,
                name: cut(self.place.name),
            },
            user: self.user.map(cut),
            csrf: self.csrf.map(cut),
            data: cut(self.data),
            record: cut(self.record),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Created(seen) => write!(f, "{} created", seen.place),
            Change::Rewritten(seen) => write!(f, "{} rewritten", seen.place),
            Change::Deleted { place, .. } => write!(f, "{place} deleted"),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A session as the store shows it (also for `traced`'s tests).
    pub(crate) fn seen(label: &str, user: Option<&str>, theme: &str) -> Seen {
        Seen {
            label: label.into(),
            place: Place {
                kind: "file",
                name: format!("sessions/{label}.json"),
            },
            user: user.map(String::from),
            csrf: Some(format!("{label}…")),
            data: format!("{{\"theme\":\"{theme}\"}}"),
            record: format!("{{\"label\":\"{label}\"}}"),
        }
    }

    fn deleted(label: &str) -> Change {
        Change::Deleted {
            label: label.into(),
            place: seen(label, None, "").place,
        }
    }

    // The `changed` block these make, line by line, is asserted from real
    // runs in tests/trace.rs; these hold what the text does not show.

    #[test]
    fn a_logout_that_moves_the_session_ends_under_the_new_cookie_not_rewritten() {
        let mut tracker = Tracker::default();
        tracker.before(|| Some(seen("aaaa", Some("alice"), "dark")));
        tracker.changed(Change::Created(seen("bbbb", None, "dark")));
        tracker.changed(deleted("aaaa"));
        let set = CookieSet::New {
            shown: "Mrv0…".into(),
            label: "bbbb".into(),
        };
        let changed = tracker.finish(Some("Tqjb…".into()), set);
        assert_eq!(changed.after, State::Session(seen("bbbb", None, "dark")));
        assert!(!changed.rewritten());
    }

    #[test]
    fn a_flush_removes_the_cookie_and_leaves_no_session() {
        let mut tracker = Tracker::default();
        tracker.before(|| Some(seen("aaaa", Some("alice"), "dark")));
        tracker.changed(deleted("aaaa"));
        let changed = tracker.finish(Some("Tqjb…".into()), CookieSet::Removed);
        assert_eq!(changed.after, State::NoSession);
        assert_eq!(changed.cookie.1, "removed");
    }

    #[test]
    fn a_rewrite_in_place_is_seen_after_and_a_second_look_does_not_replace_the_first() {
        let mut tracker = Tracker::default();
        tracker.before(|| Some(seen("aaaa", Some("alice"), "dark")));
        tracker.before(|| unreachable!("a second look is not built"));
        tracker.changed(Change::Rewritten(seen("aaaa", Some("alice"), "light")));
        let changed = tracker.finish(Some("Tqjb…".into()), CookieSet::Kept);
        assert!(changed.rewritten());
        assert_eq!(
            changed.before,
            State::Session(seen("aaaa", Some("alice"), "dark"))
        );
        assert_eq!(
            changed.after,
            State::Session(seen("aaaa", Some("alice"), "light"))
        );
    }
}
