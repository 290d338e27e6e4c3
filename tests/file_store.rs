//! The file backend, on real files in a temp dir: what only a store of
//! files can get wrong (file names, modes, the cache of file versions,
//! what else sits in the dir, the dir lock, the epochs file and its space
//! reserve, counting files). What every backend promises is in
//! `tests/store_contract.rs`.

use std::fs::{self, File};
use std::time::{Duration, SystemTime};

use latch::sessions::files::FileStore;
use latch::sessions::store::{Removed, Version};
use latch::sessions::{Record, SessionId, THEME};
use serde_json::json;

use crate::support::{self, mkfifo, TempDir};

const NOW: u64 = 1_800_000_000;

fn store(dir: &TempDir) -> FileStore {
    FileStore::open(&dir.path().join("s"), 0).unwrap()
}

fn record() -> Record {
    Record::new(NOW, 3600, 0, "token".into())
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

/// Stands for the server's sign-in rule in a sweep: no sign-in is void.
fn none_void(_: &mut Record, _: u64) -> bool {
    false
}

// Files on disk.

#[tokio::test]
async fn a_session_is_one_0600_file_named_by_its_ids_digest_starting_with_its_label() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let store = store(&dir);
    let id = store.create(&record()).await.unwrap();
    let file = file_of(&dir, &id);
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&id.label().to_string()), "{name}");
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(session_file_count(&dir), 1);
    assert!(!fs::read_to_string(&file).unwrap().contains(id.as_str()));
}

#[tokio::test]
async fn load_rotate_and_delete_leave_the_files_the_contract_implies() {
    let dir = TempDir::new();
    let store = store(&dir);
    assert!(store
        .load(&SessionId::generate(), NOW)
        .await
        .unwrap()
        .is_none());
    assert_eq!(session_file_count(&dir), 0, "a load creates no file");
    let id = store.create(&record()).await.unwrap();
    let rotated = store.rotate(&id, &Version::UNKNOWN, NOW, |r| {
        r.set_str(THEME, "dark");
        true
    });
    rotated.await.unwrap();
    assert_eq!(session_file_count(&dir), 1, "moved: the old file is gone");
    assert!(!file_of(&dir, &id).exists());
    let other = store.create(&record()).await.unwrap();
    store
        .rotate(&other, &Version::UNKNOWN, NOW, |_| false)
        .await
        .unwrap();
    assert_eq!(session_file_count(&dir), 1, "deleted: no new file");
}

#[tokio::test]
async fn an_expired_session_loads_as_none_and_its_file_goes() {
    let dir = TempDir::new();
    let store = store(&dir);
    let id = store.create(&record()).await.unwrap();
    assert!(store.load(&id, NOW + 3599).await.unwrap().is_some());
    assert!(store.load(&id, NOW + 3600).await.unwrap().is_none());
    assert_eq!(session_file_count(&dir), 0);
}

#[tokio::test]
async fn sweep_removes_expired_corrupt_and_stale_temp_files_and_keeps_the_rest() {
    // Django's test_clearsessions_command, plus the reaper bug of a
    // third-party file store that deleted live sessions.
    let dir = TempDir::new();
    let store = store(&dir);
    let sessions = dir.path().join("s");
    let live = store.create(&record()).await.unwrap();
    let mut old = record();
    old.expires = NOW - 1;
    store.create(&old).await.unwrap();
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

    let removed = store.sweep(NOW, none_void).await.unwrap();
    let (expired, unreadable, leftovers) = (1, 1, 1);
    assert_eq!(
        removed,
        Removed {
            expired,
            unreadable,
            leftovers
        }
    );
    assert!(store.load(&live, NOW).await.unwrap().is_some());
    assert!(
        fresh_temp.exists(),
        "a temp file may be a write in progress"
    );
    assert!(!stale_temp.exists());
    assert!(
        sessions.join("README.txt").exists(),
        "foreign files are not ours to delete"
    );
    assert_eq!(store.sweep(NOW, none_void).await.unwrap().total(), 0);
}

#[tokio::test]
async fn an_outside_edit_is_seen_by_the_next_load_despite_the_cache() {
    let dir = TempDir::new();
    let store = store(&dir);
    let mut first = record();
    first.set_str(THEME, "dark");
    let id = store.create(&first).await.unwrap();
    let theme = |stored: Option<latch::sessions::store::Stored>| {
        stored.unwrap().record.get_str(THEME).map(str::to_owned)
    };
    assert_eq!(
        theme(store.load(&id, NOW).await.unwrap()),
        Some("dark".into())
    );
    // Rewrite the file in place, same size, as an editor might.
    let file = file_of(&dir, &id);
    let text = fs::read_to_string(&file)
        .unwrap()
        .replace("\"dark\"", "\"lite\"");
    fs::write(&file, text).unwrap();
    assert_eq!(
        theme(store.load(&id, NOW).await.unwrap()),
        Some("lite".into())
    );
    // Corrupt it: no session, whatever was read before.
    fs::write(&file, b"{").unwrap();
    assert!(store.load(&id, NOW).await.unwrap().is_none());
}

#[tokio::test]
async fn a_change_under_the_lock_reads_the_disk_not_the_cache() {
    let dir = TempDir::new();
    let store = store(&dir);
    let id = store.create(&record()).await.unwrap();
    assert!(store.load(&id, NOW).await.unwrap().is_some(), "now cached");
    // Another writer (an operator's edit) changes the file behind the
    // store's back; a change must apply to it, not to the cached copy.
    let file = file_of(&dir, &id);
    let mut edited: serde_json::Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    edited["data"]["note"] = json!("edited");
    fs::write(&file, edited.to_string()).unwrap();
    let (written, ()) = store
        .modify(&id, &Version::UNKNOWN, NOW, |r| r.set_str(THEME, "dark"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(written.get_str("note"), Some("edited"));
    assert_eq!(written.get_str(THEME), Some("dark"));
}

// The store does not trust what sits in its dir.

/// The path of the session file for `id` in the store's dir `s`.
fn file_of(dir: &TempDir, id: &SessionId) -> std::path::PathBuf {
    support::session_file_for(&dir.path().join("s"), id.as_str())
}

/// Runs `call` on its own thread and runtime, and waits for it at most
/// `TIMEOUT`: a store call that blocks (on a FIFO, say) fails the test
/// instead of hanging it.
fn bounded<T: Send + 'static>(call: impl std::future::Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(support::block_on(call));
    });
    rx.recv_timeout(support::TIMEOUT)
        .expect("the store call finished in time")
}

#[tokio::test]
async fn a_symlink_named_for_a_forged_id_is_no_session() {
    let dir = TempDir::new();
    let store = store(&dir);
    let mut signed_in = record();
    signed_in.set_str("_auth_user", "alice");
    let real = store.create(&signed_in).await.unwrap();
    let forged = SessionId::generate();
    std::os::unix::fs::symlink(file_of(&dir, &real), file_of(&dir, &forged)).unwrap();
    assert!(store.load(&real, NOW).await.unwrap().is_some());
    assert!(store.load(&forged, NOW).await.unwrap().is_none());
    assert!(store
        .modify(&forged, &Version::UNKNOWN, NOW, |_| ())
        .await
        .unwrap()
        .is_none());
    assert!(store.list(NOW).await.unwrap().len() == 1);
}

#[test]
fn a_fifo_under_a_session_name_is_no_session_and_nothing_blocks_on_it() {
    let dir = TempDir::new();
    let store = std::sync::Arc::new(store(&dir));
    let id = SessionId::generate();
    mkfifo(&file_of(&dir, &id));
    let s = std::sync::Arc::clone(&store);
    let loaded = bounded(async move {
        let loaded = s.load(&id, NOW).await.map_err(|e| e.to_string());
        loaded.map(|stored| stored.is_some())
    });
    assert_eq!(loaded, Ok(false));
    let s = std::sync::Arc::clone(&store);
    let listed = bounded(async move { s.list(NOW).await.map(|l| l.len()).unwrap() });
    assert_eq!(listed, 0);
    let s = std::sync::Arc::clone(&store);
    let removed = bounded(async move { s.sweep(NOW, none_void).await.unwrap() });
    assert_eq!(
        removed.unreadable, 1,
        "the sweep removes what is no session"
    );
}

#[tokio::test]
async fn a_file_over_64_kib_is_no_session() {
    let dir = TempDir::new();
    let store = store(&dir);
    let id = store.create(&record()).await.unwrap();
    let mut padded = serde_json::to_value(record()).unwrap();
    padded["data"]["pad"] = json!(" ".repeat(65 * 1024));
    fs::write(file_of(&dir, &id), padded.to_string()).unwrap();
    assert!(store.load(&id, NOW).await.unwrap().is_none());
    // Just under the limit is still read.
    padded["data"]["pad"] = json!(" ".repeat(60 * 1024));
    fs::write(file_of(&dir, &id), padded.to_string()).unwrap();
    assert!(store.load(&id, NOW).await.unwrap().is_some());
}

#[tokio::test]
async fn a_sessions_dir_deleted_while_open_is_recreated_0700_by_the_next_write() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let store = store(&dir);
    store.create(&record()).await.unwrap();
    fs::remove_dir_all(dir.path().join("s")).unwrap();
    let id = store.create(&record()).await.unwrap();
    assert!(store.load(&id, NOW).await.unwrap().is_some());
    let mode = fs::metadata(dir.path().join("s"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    // Its lock was made again too: no second store can take the dir.
    assert!(FileStore::open(&dir.path().join("s"), 0).is_err());
}

#[tokio::test]
async fn a_second_store_on_one_dir_is_refused_and_names_the_holder() {
    let dir = TempDir::new();
    let first = store(&dir);
    let refused = FileStore::open(&dir.path().join("s"), 0).err().unwrap();
    let message = refused.to_string();
    assert!(
        message.contains(&format!("process {}", std::process::id())),
        "{message}"
    );
    // A read-only store works beside it.
    let reader = FileStore::at(&dir.path().join("s"), 0).unwrap();
    let id = first.create(&record()).await.unwrap();
    assert!(reader.load(&id, NOW).await.unwrap().is_some());
    drop(first);
    assert!(FileStore::open(&dir.path().join("s"), 0).is_ok());
}

// Epochs.

#[test]
fn a_damaged_epochs_file_stops_the_store_from_opening() {
    let dir = TempDir::new();
    drop(store(&dir));
    fs::write(dir.path().join("s/.epochs.json"), b"{oops").unwrap();
    assert!(FileStore::open(&dir.path().join("s"), 0).is_err());
}

#[tokio::test]
async fn an_epoch_at_u64_max_refuses_to_advance_rather_than_wrap() {
    let dir = TempDir::new();
    drop(store(&dir));
    let epochs = dir.path().join("s/.epochs.json");
    fs::write(&epochs, format!("{{\"alice\":{}}}", u64::MAX)).unwrap();
    let store = store(&dir);
    assert_eq!(store.epoch("alice").await.unwrap(), u64::MAX);
    assert!(store.bump_epoch("alice").await.is_err());
    assert_eq!(
        store.epoch("alice").await.unwrap(),
        u64::MAX,
        "not wrapped to 0"
    );
    let on_disk: serde_json::Value = serde_json::from_slice(&fs::read(&epochs).unwrap()).unwrap();
    assert_eq!(on_disk["alice"], json!(u64::MAX));
    assert_eq!(
        store.bump_epoch("bob").await.unwrap(),
        1,
        "others unaffected"
    );
}

#[tokio::test]
async fn a_read_only_store_reads_the_epochs_and_never_writes_them() {
    let dir = TempDir::new();
    let server = store(&dir);
    server.bump_epoch("alice").await.unwrap();
    let reader = FileStore::at(&dir.path().join("s"), 0).unwrap();
    assert_eq!(reader.epoch("alice").await.unwrap(), 1);
    assert!(reader.bump_epoch("bob").await.is_err());
    let on_disk = fs::read_to_string(dir.path().join("s/.epochs.json")).unwrap();
    assert_eq!(on_disk, r#"{"alice":1}"#);
    // A reader over a dir with no epochs file holds none, and writes none.
    let empty = TempDir::new();
    let reader = FileStore::at(empty.path(), 0).unwrap();
    assert_eq!(reader.epoch("alice").await.unwrap(), 0);
    assert!(reader.bump_epoch("alice").await.is_err());
    assert!(!empty.path().join(".epochs.json").exists());
}

#[tokio::test]
async fn a_sweep_signs_out_void_sign_ins_so_losing_the_epochs_file_cannot_revive_them() {
    let dir = TempDir::new();
    let void = {
        let store = store(&dir);
        let mut signed_in = record();
        signed_in.sign_in("alice", "hash", NOW, "token-2");
        signed_in.set_str(THEME, "dark");
        let void = store.create(&signed_in).await.unwrap();
        store.bump_epoch("alice").await.unwrap();
        let sign_out_stale = |r: &mut Record, epoch: u64| {
            let stale = r.user().is_some() && epoch > 0;
            if stale {
                r.remove_auth();
                r.set_csrf("renewed");
            }
            stale
        };
        assert_eq!(store.sweep(NOW, sign_out_stale).await.unwrap().total(), 0);
        void
    };
    fs::remove_file(dir.path().join("s/.epochs.json")).unwrap();
    let store = store(&dir);
    assert_eq!(
        store.epoch("alice").await.unwrap(),
        0,
        "the epochs are lost"
    );
    let stripped = store.load(&void, NOW).await.unwrap().unwrap().record;
    assert_eq!(stripped.user(), None, "still signed out in its file");
    assert_eq!(stripped.get_str(THEME), Some("dark"), "the rest stays");
    assert_eq!(stripped.csrf_token(), Some("renewed"));
}

#[tokio::test]
async fn an_epochs_file_deleted_while_open_is_written_back_by_the_sweep() {
    let dir = TempDir::new();
    let store = store(&dir);
    store.bump_epoch("alice").await.unwrap();
    let epochs = dir.path().join("s/.epochs.json");
    fs::remove_file(&epochs).unwrap();
    store.sweep(NOW, none_void).await.unwrap();
    assert_eq!(fs::read_to_string(&epochs).unwrap(), r#"{"alice":1}"#);
}

#[tokio::test]
async fn epochs_read_while_advances_run_never_go_back() {
    // Reads while advances write and fsync see each epoch in order.
    let dir = TempDir::new();
    let store = std::sync::Arc::new(store(&dir));
    let writer = std::sync::Arc::clone(&store);
    let advancing = tokio::spawn(async move {
        for _ in 0..20 {
            writer.bump_epoch("alice").await.unwrap();
        }
    });
    let mut seen = Vec::new();
    while !advancing.is_finished() {
        seen.push(store.epoch("alice").await.unwrap());
        tokio::task::yield_now().await;
    }
    advancing.await.unwrap();
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "never goes back");
    assert_eq!(store.epoch("alice").await.unwrap(), 20);
}

// Counting session files for the cap on anonymous sessions.

#[tokio::test]
async fn the_count_starts_from_the_dir_and_each_sweep_recounts_it() {
    let dir = TempDir::new();
    let mut ids = Vec::new();
    {
        let store = store(&dir);
        for _ in 0..3 {
            ids.push(store.create(&record()).await.unwrap());
        }
    }
    let store = store(&dir).with_max_sessions(Some(3));
    assert_eq!(store.count(NOW).await.unwrap(), 3, "counted at open");
    assert!(store
        .create_anonymous(&record(), NOW)
        .await
        .unwrap()
        .is_none());
    assert_eq!(session_file_count(&dir), 3, "nothing written past the cap");
    // Removed behind the store's back (an operator, `clearsessions`).
    fs::remove_file(file_of(&dir, &ids[0])).unwrap();
    fs::remove_file(file_of(&dir, &ids[1])).unwrap();
    store.sweep(NOW, none_void).await.unwrap();
    assert_eq!(store.count(NOW).await.unwrap(), 1);
    assert!(store
        .create_anonymous(&record(), NOW)
        .await
        .unwrap()
        .is_some());
}
