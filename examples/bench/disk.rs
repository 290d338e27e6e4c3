//! Workload (i): the disk's durable write ceiling, measured the way latch
//! writes a session (temporary file, fsync, rename, fsync of the directory)
//! by `writers` threads at once, with no HTTP in the way. A logout's rate is
//! then read as a fraction of what the disk allows.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Durable replacements per second, and the p50 / p99 of one, in ms.
pub fn ceiling(dir: &Path, writers: usize, duration: Duration) -> (f64, f64, f64) {
    fs::create_dir_all(dir).unwrap();
    let done = AtomicU64::new(0);
    let started = Instant::now();
    let deadline = started + duration;
    let mut latencies: Vec<u32> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..writers)
            .map(|w| {
                let done = &done;
                scope.spawn(move || {
                    let payload = vec![b'x'; 300];
                    let mut latencies = Vec::new();
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let temp = dir.join(format!(".tmp-{w}-{n}"));
                        let mut file = OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .mode(0o600)
                            .open(&temp)
                            .unwrap();
                        file.write_all(&payload).unwrap();
                        file.sync_data().unwrap();
                        fs::rename(&temp, dir.join(format!("{w}.json"))).unwrap();
                        File::open(dir).unwrap().sync_all().unwrap();
                        latencies.push(t.elapsed().as_micros() as u32);
                        done.fetch_add(1, Ordering::Relaxed);
                        n += 1;
                    }
                    latencies
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pick = |p: f64| {
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        f64::from(latencies[rank.clamp(1, latencies.len()) - 1]) / 1000.0
    };
    let _ = fs::remove_dir_all(dir);
    (
        done.load(Ordering::Relaxed) as f64 / elapsed,
        pick(50.0),
        pick(99.0),
    )
}
