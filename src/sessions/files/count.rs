//! How many session files the dir holds, known without listing it: counted
//! at open, adjusted by every create and unlink, recounted by a sweep that
//! saw no new file under way (which also catches files removed behind the
//! store's back). It is what `--max-sessions` is checked against
//! (docs/contract.md, "Sessions": anonymous sessions are bounded).

use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Default)]
pub(super) struct FileCount {
    files: AtomicUsize,
    /// New session files begun and finished (written or failed) since
    /// open: a sweep's recount adds every file not finished before its
    /// walk began, which the walk may not have seen.
    begun: AtomicUsize,
    finished: AtomicUsize,
}

impl FileCount {
    pub(super) fn starting_at(files: usize) -> FileCount {
        FileCount {
            files: AtomicUsize::new(files),
            ..FileCount::default()
        }
    }

    pub(super) fn current(&self) -> usize {
        self.files.load(Ordering::Relaxed)
    }

    /// Counts a new file if fewer than `max` are there; whether it did.
    /// Every `begin` is followed by one `finish`. `begun` is counted before
    /// `files`, and `finish` counts `finished` after the write, so a sweep's
    /// recount never misses the file (see `recount`).
    pub(super) fn begin(&self, max: usize) -> bool {
        self.begun.fetch_add(1, Ordering::SeqCst);
        self.files
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// The write `begin` announced is over: `admitted` is what `begin`
    /// returned, `written` whether the file is there now.
    pub(super) fn finish(&self, admitted: bool, written: bool) {
        self.finished.fetch_add(1, Ordering::SeqCst);
        if admitted && !written {
            self.removed();
        }
    }

    /// A session file was unlinked.
    pub(super) fn removed(&self) {
        let _ = self
            .files
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }

    /// Taken before a sweep walks the dir, for `recount`.
    pub(super) fn finished_so_far(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }

    /// The count after a walk that saw `seen` session files, taken only
    /// when no new file was begun since the last one finished before the
    /// walk began (`finished_before`): then the walk saw every file the
    /// store made, and `seen` is right but for files unlinked during the
    /// walk (the count errs high until the next sweep, never low). When a
    /// new file was under way, the walk may or may not have seen it, so the
    /// count kept by `begin`, `finish` and `removed` stands, and the next
    /// quiet sweep recounts. (Adding every such file to `seen` counted some
    /// twice: a flood of new sessions during a sweep was refused early.)
    ///
    /// The check reads `begun` inside the update of `files`, and `begin`
    /// counts `begun` before `files`: a file begun at any moment either
    /// makes the check fail or is counted on top of `seen`.
    pub(super) fn recount(&self, seen: usize, finished_before: usize) {
        let _ = self
            .files
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |_| {
                (self.begun.load(Ordering::SeqCst) == finished_before).then_some(seen)
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_admitted_below_the_cap_and_a_failed_write_gives_its_place_back() {
        let count = FileCount::starting_at(1);
        assert!(count.begin(2));
        assert!(!count.begin(2), "the cap counts the file in progress");
        count.finish(true, false);
        assert_eq!(count.current(), 1);
        count.finish(count.begin(2), true);
        assert_eq!(count.current(), 2);
        count.removed();
        assert_eq!(count.current(), 1);
    }

    #[test]
    fn a_recount_waits_for_a_walk_with_no_new_file_under_way() {
        let count = FileCount::starting_at(0);
        let before = count.finished_so_far();
        let in_flight = count.begin(usize::MAX);
        count.recount(3, before);
        assert_eq!(count.current(), 1, "the walk may or may not have seen it");
        count.finish(in_flight, true);
        count.recount(4, count.finished_so_far());
        assert_eq!(count.current(), 4, "a quiet walk recounts");
        let before = count.finished_so_far();
        count.finish(count.begin(usize::MAX), true);
        count.recount(4, before);
        assert_eq!(
            count.current(),
            5,
            "a file made during the walk is counted once"
        );
    }
}
