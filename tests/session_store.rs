//! The session store's contract, on real files in a temp dir.

mod support;

use std::fs::{self, File};
use std::time::{Duration, SystemTime};

use latch::session::{Record, SessionId, THEME};
use latch::session_store::{Rotated, Store};
use serde_json::json;
use support::TempDir;

const NOW: u64 = 1_800_000_000;

fn store(dir: &TempDir) -> Store {
    Store::open(&dir.path().join("s"), 0).unwrap()
}

fn record() -> Record {
    Record::new(NOW, 3600, 0)
}

#[test]
fn load_of_an_unknown_id_is_none_and_creates_nothing() {
    let dir = TempDir::new();
    let store = store(&dir);
    assert_eq!(store.load(&SessionId::generate(), NOW).unwrap(), None);
    assert_eq!(fs::read_dir(dir.path().join("s")).unwrap().count(), 0);
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
    assert_eq!(fs::read_dir(dir.path().join("s")).unwrap().count(), 0);
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
    assert_eq!(fs::read_dir(dir.path().join("s")).unwrap().count(), 1);
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
    assert_eq!(fs::read_dir(dir.path().join("s")).unwrap().count(), 0);
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
    assert_eq!(store.sweep(NOW).unwrap(), 0);
    assert!(store.list(NOW).unwrap().is_empty());
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
    assert_eq!(fs::read_dir(dir.path().join("s")).unwrap().count(), 0);
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

    assert_eq!(store.sweep(NOW).unwrap(), 3);
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
    assert_eq!(store.sweep(NOW).unwrap(), 0);
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
        .list(NOW)
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
    let file = fs::read_dir(dir.path().join("s"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
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
