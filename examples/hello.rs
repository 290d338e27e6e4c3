//! The benchmark's baselines: a bare hyper 1.x server wired like latch, so
//! the difference between it and latch is latch's own work.
//!
//! ```sh
//! cargo run --release --example hello -- 127.0.0.1:0                # answers `hello`
//! cargo run --release --example hello -- 127.0.0.1:0 account.http   # answers those bytes
//! ```
//!
//! With no second argument it answers every request with `hello`: the
//! physical limit of hyper on this machine. Given a file holding one HTTP/1.1
//! response as it came off the wire (status line, headers, blank line, body),
//! it answers every request with that response: the same status, the same
//! headers in the same order, the same body; only `date` is hyper's own, as
//! in latch. That is the baseline for a page workload: latch writing those
//! bytes can go no faster than hyper writing them with no work at all.
//!
//! Wired as `src/main.rs` and `src/server.rs` wire latch: a multi-thread
//! tokio runtime with one worker per core, hyper's HTTP/1 builder with the
//! same timer, head timeout, size limits and keep-alive, `TCP_NODELAY`, one
//! task per connection. What latch adds on top (admission, the graceful
//! shutdown watch, the write deadline, routing, the session read, the page,
//! the access log) is what a ratio to this server measures.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, DATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

/// latch's default `--client-timeout`, and its `MAX_HEAD_BYTES`.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HEAD_BYTES: usize = 64 * 1024;

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8081".into());
    let answer = match args.next() {
        None => Answer::hello(),
        Some(path) => {
            let raw = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
            Answer::parse(&raw).map_err(|e| format!("{path}: {e}"))?
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(serve(&addr, answer))
}

async fn serve(addr: &str, answer: Answer) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(CLIENT_TIMEOUT)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("hello listening on http://{local}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let answer = answer.clone();
        let service = service_fn(move |_request: Request<hyper::body::Incoming>| {
            let response = answer.response();
            async move { Ok::<_, Infallible>(response) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

/// The one response this server gives.
#[derive(Clone)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn hello() -> Answer {
        Answer {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"hello"),
        }
    }

    /// Reads a response as it came off the wire: `HTTP/1.1 200 OK`, then
    /// `name: value` lines, a blank line and the body (RFC 9112 §2.1).
    /// Headers keep their order; `date` is dropped, for hyper writes the
    /// current one (RFC 9110 §6.6.1).
    fn parse(raw: &[u8]) -> Result<Answer, String> {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("no blank line after the head")?;
        let head = std::str::from_utf8(&raw[..split]).map_err(|_| "the head is not UTF-8")?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| StatusCode::from_bytes(code.as_bytes()).ok())
            .ok_or_else(|| format!("not a status line: {status_line:?}"))?;
        let mut headers = HeaderMap::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("not a header line: {line:?}"))?;
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("{e}"))?;
            let value = HeaderValue::from_str(value.trim()).map_err(|e| format!("{e}"))?;
            if name != DATE {
                headers.append(name, value);
            }
        }
        let body = Bytes::copy_from_slice(&raw[split + 4..]);
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    fn response(&self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
    }
}
