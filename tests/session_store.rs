//! The session store's contract, on real files in a temp dir.

mod support;

use std::fs::{self, File};
use std::time::{Duration, SystemTime};

use latch::sessions::files::{Rotated, Store};
use latch::sessions::{Record, SessionId, THEME};
use serde_json::json;
use support::TempDir;

const NOW: u64 = 1_800_000_000;

fn store(dir: &TempDir) -> Store {
    Store::open(&dir.path().join("s"), 0).unwrap()
}

fn record() -> Record {
    Record::new(NOW, 3600, 0)
}

/// Session files in the store's dir `s` (the dir also holds the lock file
/// and the space reserve).
fn session_file_count(dir: &TempDir) -> usize {
    fs::read_dir(dir.path().join("s"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.len() == 69 && name.ends_with(".json")
        })
        .count()
}

#[test]
fn load_of_an_unknown_id_is_none_and_creates_nothing() {
    let dir = TempDir::new();
    let store = store(&dir);
    assert_eq!(store.load(&SessionId::generate(), NOW).unwrap(), None);
    assert_eq!(session_file_count(&dir), 0);
}

#[test]
fn modify_after_delete_writes_nothing_back() {
    // Django #21608, express-session #632: a request that loaded the
    // session before a logout must not resurrect it when it saves.
    let dir = TempDir::new();
    let store = store(&dir);
    let id = store.create(&record()).unwrap();
    let loaded_earlier = store.load(&id, NOW).unwrap();
    assert!(loaded_earlier.is_some());
    assert!(store.delete(&id).unwrap());
    let outcome = store
        .modify(&id, NOW, |r| r.set_str(THEME, "dark"))
        .unwrap();
    assert!(outcome.is_none());
    assert_eq!(store.load(&id, NOW).unwrap(), None);
    assert_eq!(session_file_count(&dir), 0);
}

#[test]
fn modify_applies_the_change_to_what_is_on_disk_now() {
    let dir = TempDir::new();
    let store = store(&dir);
    let id = store.create(&record()).unwrap();
    store.modify(&id, NOW, |r| r.set_str("a", "1")).unwrap();
    store.modify(&id, NOW, |r| r.set_str("b", "2")).unwrap();
    let r = store.load(&id, NOW).unwrap().unwrap();
    assert_eq!((r.get_str("a"), r.get_str("b")), (Some("1"), Some("2")));
}

#[test]
fn concurrent_modifies_lose_no_update() {
    let dir = TempDir::new();
    let store = store(&dir);
    let id = store.create(&record()).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..50 {
                    store
                        .modify(&id, NOW, |r| {
                            let n = r.data.get("n").and_then(|v| v.as_u64()).unwrap_or(0);
                            r.data.insert("n".into(), json!(n + 1));
                        })
                        .unwrap()
                        .unwrap();
                }
            });
        }
    });
    let r = store.load(&id, NOW).unwrap().unwrap();
    assert_eq!(r.data["n"], json!(400));
}

#[test]
fn rotate_moves_the_data_to_a_new_id_and_deletes_the_old_file() {
    let dir = TempDir::new();
    let store = store(&dir);
    let mut first = record();
    first.set_str(THEME, "dark");
    let old = store.create(&first).unwrap();
    let rotated = store
        .rotate(&old, NOW, |r| {
            r.set_str("x", "y");
            true
        })
        .unwrap();
    let Rotated::Moved(new, moved) = rotated else {
        panic!("expected a move, got {rotated:?}");
    };
    assert_ne!(new, old);
    assert_eq!(store.load(&old, NOW).unwrap(), None);
    let loaded = store.load(&new, NOW).unwrap().unwrap();
    assert_eq!(loaded, moved);
    assert_eq!(loaded.get_str(THEME), Some("dark"));
    assert_eq!(
        (loaded.created, loaded.expires),
        (first.created, first.expires)
    );
    assert_eq!(session_file_count(&dir), 1);
    // A second rotate of the old id finds nothing.
    assert!(matches!(
        store.rotate(&old, NOW, |_| true).unwrap(),
        Rotated::Gone
    ));
}

#[test]
fn rotate_deletes_when_nothing_is_worth_keeping() {
    let dir = TempDir::new();
    let store = store(&dir);
    let id = store.create(&record()).unwrap();
    assert!(matches!(
        store.rotate(&id, NOW, |_| false).unwrap(),
        Rotated::Deleted
    ));
    assert_eq!(store.load(&id, NOW).unwrap(), None);
    assert_eq!(session_file_count(&dir), 0);
}

#[test]
fn epochs_survive_a_restart() {
    let dir = TempDir::new();
    {
        let store = store(&dir);
        assert_eq!(store.epoch("alice"), 0);
        assert_eq!(store.bump_epoch("alice").unwrap(), 1);
        assert_eq!(store.bump_epoch("alice").unwrap(), 2);
    }
    let store = store(&dir);
    assert_eq!((store.epoch("alice"), store.epoch("bob")), (2, 0));
    // The epochs file is not a session file: sweeps and listings skip it.
    assert_eq!(store.sweep(NOW, &|_| true).unwrap(), 0);
    assert!(store.list(NOW, &|_| true).unwrap().is_empty());
}

#[test]
fn a_damaged_epochs_file_stops_the_store_from_opening() {
    let dir = TempDir::new();
    drop(store(&dir));
    fs::write(dir.path().join("s/.epochs.json"), b"{oops").unwrap();
    assert!(Store::open(&dir.path().join("s"), 0).is_err());
}

#[test]
fn an_expired_session_loads_as_none_and_its_file_goes() {
    let dir = TempDir::new();
    let store = store(&dir);
    let id = store.create(&record()).unwrap();
    assert!(store.load(&id, NOW + 3599).unwrap().is_some());
    assert_eq!(store.load(&id, NOW + 3600).unwrap(), None);
    assert_eq!(session_file_count(&dir), 0);
}

#[test]
fn idle_timeout_expires_an_unused_session() {
    let dir = TempDir::new();
    let store = Store::open(&dir.path().join("s"), 60).unwrap();
    let id = store.create(&Record::new(NOW, 3600, 60)).unwrap();
    assert!(store.load(&id, NOW + 59).unwrap().is_some());
    store
        .modify(&id, NOW + 59, |r| r.seen = Some(NOW + 59))
        .unwrap();
    assert!(store.load(&id, NOW + 100).unwrap().is_some());
    assert_eq!(store.load(&id, NOW + 119).unwrap(), None);
}

#[test]
fn sweep_removes_expired_corrupt_and_stale_temp_files_and_keeps_the_rest() {
    // Django's test_clearsessions_command, plus the reaper bug of a
    // third-party file store that deleted live sessions.
    let dir = TempDir::new();
    let store = store(&dir);
    let sessions = dir.path().join("s");
    let live = store.create(&record()).unwrap();
    let mut old = record();
    old.expires = NOW - 1;
    store.create(&old).unwrap();
    fs::write(
        sessions.join(format!("{}.json", "cd".repeat(32))),
        b"{not json",
    )
    .unwrap();
    fs::write(sessions.join("README.txt"), b"not a session").unwrap();
    let fresh_temp = sessions.join(".tmp-fresh");
    let stale_temp = sessions.join(".tmp-stale");
    fs::write(&fresh_temp, b"").unwrap();
    fs::write(&stale_temp, b"").unwrap();
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    File::options()
        .write(true)
        .open(&stale_temp)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();

    assert_eq!(store.sweep(NOW, &|_| true).unwrap(), 3);
    assert!(store.load(&live, NOW).unwrap().is_some());
    assert!(
        fresh_temp.exists(),
        "a temp file may be a write in progress"
    );
    assert!(!stale_temp.exists());
    assert!(
        sessions.join("README.txt").exists(),
        "foreign files are not ours to delete"
    );
    assert_eq!(store.sweep(NOW, &|_| true).unwrap(), 0);
}

#[test]
fn list_shows_live_sessions_with_their_user() {
    let dir = TempDir::new();
    let store = store(&dir);
    let mut signed_in = record();
    signed_in.set_str("_auth_user", "alice");
    store.create(&signed_in).unwrap();
    store.create(&record()).unwrap();
    let mut users: Vec<_> = store
        .list(NOW, &|_| true)
        .unwrap()
        .into_iter()
        .map(|l| l.user)
        .collect();
    users.sort();
    assert_eq!(users, vec![None, Some("alice".to_string())]);
}

#[test]
fn an_outside_edit_is_seen_by_the_next_load_despite_the_cache() {
    let dir = TempDir::new();
    let store = store(&dir);
    let mut first = record();
    first.set_str(THEME, "dark");
    let id = store.create(&first).unwrap();
    assert_eq!(
        store.load(&id, NOW).unwrap().unwrap().get_str(THEME),
        Some("dark")
    );
    // Rewrite the file in place, same size, as an editor might.
    let file = file_of(&dir, &id);
    let text = fs::read_to_string(&file)
        .unwrap()
        .replace("\"dark\"", "\"lite\"");
    fs::write(&file, text).unwrap();
    assert_eq!(
        store.load(&id, NOW).unwrap().unwrap().get_str(THEME),
        Some("lite")
    );
    // Corrupt it: no session, whatever was read before.
    fs::write(&file, b"{").unwrap();
    assert_eq!(store.load(&id, NOW).unwrap(), None);
}

// The store does not trust what sits in its dir.

/// The path of the session file for `id` in the store's dir `s`.
fn file_of(dir: &TempDir, id: &SessionId) -> std::path::PathBuf {
    support::session_file_for(&dir.path().join("s"), id.as_str())
}

/// Runs `work` on its own thread and waits for it at most `TIMEOUT`: a
/// store call that blocks (on a FIFO, say) fails the test instead of
/// hanging it.
fn bounded<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx.recv_timeout(support::TIMEOUT)
        .expect("the store call finished in time")
}

fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_symlink_named_for_a_forged_id_is_no_session() {
    let dir = TempDir::new();
    let store = store(&dir);
    let mut signed_in = record();
    signed_in.set_str("_auth_user", "alice");
    let real = store.create(&signed_in).unwrap();
    let forged = SessionId::generate();
    std::os::unix::fs::symlink(file_of(&dir, &real), file_of(&dir, &forged)).unwrap();
    assert!(store.load(&real, NOW).unwrap().is_some());
    assert_eq!(store.load(&forged, NOW).unwrap(), None);
    assert_eq!(store.modify(&forged, NOW, |_| ()).unwrap(), None);
    assert!(store.list(NOW, &|_| true).unwrap().len() == 1);
}

#[test]
fn a_fifo_under_a_session_name_is_no_session_and_nothing_blocks_on_it() {
    let dir = TempDir::new();
    let store = std::sync::Arc::new(store(&dir));
    let id = SessionId::generate();
    mkfifo(&file_of(&dir, &id));
    let s = std::sync::Arc::clone(&store);
    let loaded = bounded(move || s.load(&id, NOW).map_err(|e| e.to_string()));
    assert_eq!(loaded, Ok(None));
    let s = std::sync::Arc::clone(&store);
    let listed = bounded(move || s.list(NOW, &|_| true).map(|l| l.len()).unwrap());
    assert_eq!(listed, 0);
    let s = std::sync::Arc::clone(&store);
    let removed = bounded(move || s.sweep(NOW, &|_| true).unwrap());
    assert_eq!(removed, 1, "the sweep removes what is no session");
}

#[test]
fn a_file_over_64_kib_is_no_session() {
    let dir = TempDir::new();
    let store = store(&dir);
    let id = store.create(&record()).unwrap();
    let mut padded = serde_json::to_value(record()).unwrap();
    padded["data"]["pad"] = json!(" ".repeat(65 * 1024));
    fs::write(file_of(&dir, &id), padded.to_string()).unwrap();
    assert_eq!(store.load(&id, NOW).unwrap(), None);
    // Just under the limit is still read.
    padded["data"]["pad"] = json!(" ".repeat(60 * 1024));
    fs::write(file_of(&dir, &id), padded.to_string()).unwrap();
    assert!(store.load(&id, NOW).unwrap().is_some());
}

#[test]
fn a_sessions_dir_deleted_while_open_is_recreated_0700_by_the_next_write() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let store = store(&dir);
    store.create(&record()).unwrap();
    fs::remove_dir_all(dir.path().join("s")).unwrap();
    let id = store.create(&record()).unwrap();
    assert!(store.load(&id, NOW).unwrap().is_some());
    let mode = fs::metadata(dir.path().join("s"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    // Its lock was made again too: no second store can take the dir.
    assert!(Store::open(&dir.path().join("s"), 0).is_err());
}

#[test]
fn a_second_store_on_one_dir_is_refused_and_names_the_holder() {
    let dir = TempDir::new();
    let first = store(&dir);
    let refused = Store::open(&dir.path().join("s"), 0).err().unwrap();
    let message = refused.to_string();
    assert!(
        message.contains(&format!("process {}", std::process::id())),
        "{message}"
    );
    // A read-only store works beside it.
    let reader = Store::at(&dir.path().join("s"), 0).unwrap();
    let id = first.create(&record()).unwrap();
    assert!(reader.load(&id, NOW).unwrap().is_some());
    drop(first);
    assert!(Store::open(&dir.path().join("s"), 0).is_ok());
}

// Epochs.

#[test]
fn an_epoch_at_u64_max_refuses_to_advance_rather_than_wrap() {
    let dir = TempDir::new();
    drop(store(&dir));
    let epochs = dir.path().join("s/.epochs.json");
    fs::write(&epochs, format!("{{\"alice\":{}}}", u64::MAX)).unwrap();
    let store = store(&dir);
    assert_eq!(store.epoch("alice"), u64::MAX);
    assert!(store.bump_epoch("alice").is_err());
    assert_eq!(store.epoch("alice"), u64::MAX, "not wrapped to 0");
    let on_disk: serde_json::Value = serde_json::from_slice(&fs::read(&epochs).unwrap()).unwrap();
    assert_eq!(on_disk["alice"], json!(u64::MAX));
    assert_eq!(store.bump_epoch("bob").unwrap(), 1, "others unaffected");
}

#[test]
fn a_read_only_store_reads_the_epochs_and_never_writes_them() {
    let dir = TempDir::new();
    let server = store(&dir);
    server.bump_epoch("alice").unwrap();
    let reader = Store::at(&dir.path().join("s"), 0).unwrap();
    assert_eq!(reader.epoch("alice"), 1);
    assert!(reader.bump_epoch("bob").is_err());
    let on_disk = fs::read_to_string(dir.path().join("s/.epochs.json")).unwrap();
    assert_eq!(on_disk, r#"{"alice":1}"#);
    // A reader over a dir with no epochs file holds none, and writes none.
    let empty = TempDir::new();
    let reader = Store::at(empty.path(), 0).unwrap();
    assert_eq!(reader.epoch("alice"), 0);
    assert!(reader.bump_epoch("alice").is_err());
    assert!(!empty.path().join(".epochs.json").exists());
}

#[test]
fn a_sweep_signs_out_void_sign_ins_so_losing_the_epochs_file_cannot_revive_them() {
    let dir = TempDir::new();
    let store = store(&dir);
    let mut signed_in = record();
    signed_in.set_str("_auth_user", "alice");
    signed_in.set_str(THEME, "dark");
    let void = store.create(&signed_in).unwrap();
    let mut standing = signed_in.clone();
    standing.set_str("_auth_user", "bob");
    let kept = store.create(&standing).unwrap();
    let alice_is_void = |r: &Record| r.user() != Some("alice");
    assert_eq!(store.sweep(NOW, &alice_is_void).unwrap(), 0);
    let stripped = store.load(&void, NOW).unwrap().unwrap();
    assert_eq!(stripped.user(), None, "signed out in its file");
    assert_eq!(stripped.get_str(THEME), Some("dark"), "the rest stays");
    assert_ne!(stripped.csrf_token(), signed_in.csrf_token());
    assert_eq!(store.load(&kept, NOW).unwrap().unwrap().user(), Some("bob"));
}

#[test]
fn an_epochs_file_deleted_while_open_is_written_back_by_the_sweep() {
    let dir = TempDir::new();
    let store = store(&dir);
    store.bump_epoch("alice").unwrap();
    let epochs = dir.path().join("s/.epochs.json");
    fs::remove_file(&epochs).unwrap();
    store.sweep(NOW, &|_| true).unwrap();
    assert_eq!(fs::read_to_string(&epochs).unwrap(), r#"{"alice":1}"#);
}

// The cap on anonymous sessions.

#[test]
fn create_anonymous_refuses_past_max_sessions_and_deletions_make_room() {
    let dir = TempDir::new();
    let store = store(&dir).with_max_sessions(3);
    let first = store.create_anonymous(&record()).unwrap().unwrap();
    store.create_anonymous(&record()).unwrap().unwrap();
    store.create(&record()).unwrap();
    assert_eq!(store.file_count(), 3);
    assert_eq!(store.create_anonymous(&record()).unwrap(), None);
    assert_eq!(session_file_count(&dir), 3, "nothing written past the cap");
    // Sign-in is never refused by the cap.
    store.create(&record()).unwrap();
    assert_eq!(store.file_count(), 4);
    assert!(store.delete(&first).unwrap());
    assert!(store
        .rotate(&store.create(&record()).unwrap(), NOW, |_| false)
        .is_ok());
    assert_eq!(store.file_count(), 3);
    assert_eq!(store.create_anonymous(&record()).unwrap(), None);
}

#[test]
fn the_count_starts_from_the_dir_and_each_sweep_recounts_it() {
    let dir = TempDir::new();
    let ids: Vec<SessionId> = {
        let store = store(&dir);
        (0..3).map(|_| store.create(&record()).unwrap()).collect()
    };
    let store = store(&dir).with_max_sessions(3);
    assert_eq!(store.file_count(), 3, "counted at open");
    assert_eq!(store.create_anonymous(&record()).unwrap(), None);
    // Removed behind the store's back (an operator, `clearsessions`).
    fs::remove_file(file_of(&dir, &ids[0])).unwrap();
    fs::remove_file(file_of(&dir, &ids[1])).unwrap();
    store.sweep(NOW, &|_| true).unwrap();
    assert_eq!(store.file_count(), 1);
    assert!(store.create_anonymous(&record()).unwrap().is_some());
}

#[test]
fn list_is_sorted_by_created_and_shows_no_user_for_a_sign_in_that_does_not_stand() {
    let dir = TempDir::new();
    let store = store(&dir);
    for (created, user) in [(NOW - 5, "carol"), (NOW - 30, "alice"), (NOW - 10, "bob")] {
        let mut r = Record::new(created, 3600, 0);
        r.set_str("_auth_user", user);
        store.create(&r).unwrap();
    }
    let listed = store
        .list(NOW, &|r: &Record| r.user() != Some("bob"))
        .unwrap();
    let rows: Vec<(u64, Option<String>)> =
        listed.into_iter().map(|l| (l.created, l.user)).collect();
    assert_eq!(
        rows,
        vec![
            (NOW - 30, Some("alice".into())),
            (NOW - 10, None),
            (NOW - 5, Some("carol".into())),
        ]
    );
}
