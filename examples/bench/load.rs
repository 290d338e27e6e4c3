//! The load generator: a closed loop per connection (send a request, wait
//! for the whole response, send the next), on hyper's own HTTP/1.1 client,
//! recording every latency. Used the same way for every server measured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Makes the next request for connection `c`; `None` when there is no more
/// work (for example, every prepared session has been logged out).
pub type MakeRequest = Arc<dyn Fn(usize) -> Option<Request<Full<Bytes>>> + Send + Sync>;

/// What one run measured.
#[derive(Default)]
pub struct Stats {
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// The server's CPU time meanwhile, when measured (see `in_turns`).
    pub server_cpu: Duration,
    latencies_us: Vec<u32>,
}

impl Stats {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The server's CPU time per answered request, in microseconds: what
    /// one request costs it, whatever the load generator costs.
    pub fn server_cpu_us(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.ok as f64
    }

    /// The `p`-th percentile latency in milliseconds (nearest rank).
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.latencies_us.len() as f64).ceil() as usize;
        f64::from(self.latencies_us[rank.clamp(1, self.latencies_us.len()) - 1]) / 1000.0
    }

    /// Counts `other`'s requests and time in with these (for a workload
    /// measured in several turns).
    pub fn add(&mut self, other: Stats) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.server_cpu += other.server_cpu;
        self.latencies_us.extend(other.latencies_us);
        self.latencies_us.sort_unstable();
    }
}

/// Runs `connections` closed loops against `addr` for `duration` (or until
/// `make` runs out); a response whose status is not `expect` is an error.
pub async fn run(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    expect: u16,
    make: MakeRequest,
) -> Stats {
    let started = Instant::now();
    let deadline = started + duration;
    let loops: Vec<_> = (0..connections)
        .map(|c| tokio::spawn(one_connection(addr, c, deadline, expect, Arc::clone(&make))))
        .collect();
    let mut stats = Stats::default();
    for handle in loops {
        let one = handle.await.expect("a load loop panicked");
        stats.ok += one.ok;
        stats.errors += one.errors;
        stats.latencies_us.extend(one.latencies_us);
    }
    stats.elapsed = started.elapsed();
    stats.latencies_us.sort_unstable();
    stats
}

async fn one_connection(
    addr: SocketAddr,
    c: usize,
    deadline: Instant,
    expect: u16,
    make: MakeRequest,
) -> Stats {
    let mut stats = Stats::default();
    'connect: while Instant::now() < deadline {
        let Ok(mut sender) = connect(addr).await else {
            stats.errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while Instant::now() < deadline {
            let Some(request) = make(c) else {
                break 'connect;
            };
            let sent = Instant::now();
            let answered = match sender.send_request(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    response.into_body().collect().await.is_ok() && status == expect
                }
                Err(_) => false,
            };
            if answered {
                stats.ok += 1;
                stats
                    .latencies_us
                    .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
            } else {
                stats.errors += 1;
                continue 'connect;
            }
            if sender.ready().await.is_err() {
                continue 'connect;
            }
        }
    }
    stats
}

async fn connect(
    addr: SocketAddr,
) -> Result<http1::SendRequest<Full<Bytes>>, Box<dyn std::error::Error>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// A request with the headers every workload sends.
pub fn request(
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<String>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench.local");
    if let Some(cookie) = cookie {
        builder = builder.header("cookie", cookie);
    }
    let body = match form {
        Some(form) => {
            builder = builder.header("content-type", "application/x-www-form-urlencoded");
            Bytes::from(form)
        }
        None => Bytes::new(),
    };
    builder
        .body(Full::new(body))
        .expect("a request from constant parts")
}
