//! A file from the www dir sent as it is read, a chunk at a time, so a
//! large file costs a chunk of memory, not its size.

use std::fs::File;
use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::task::JoinHandle;

/// How much of a file is read at once (the size nginx's `output_buffers`
/// and most servers settle on): large enough that the thread hop per chunk
/// costs little, small enough that a slow client holds little memory.
pub const CHUNK: u64 = 64 * 1024;

/// The next `remaining` bytes of an open file, read on tokio's blocking
/// pool (a file read can block on the disk, which an async worker must
/// never do) one `CHUNK` at a time, and only when hyper asks for more:
/// hyper asks once the previous chunk is on its way to the client.
pub struct FileBody {
    /// The file between reads; `None` while a read is running.
    file: Option<File>,
    /// The read running on the blocking pool, if any.
    reading: Option<JoinHandle<(File, io::Result<Bytes>)>>,
    /// Bytes still to send: the length announced in `Content-Length`.
    remaining: u64,
}

impl FileBody {
    /// Sends `length` bytes of `file` from where it stands (a fresh file:
    /// the start). Nothing is read until hyper polls the body, so a body
    /// dropped unsent (a HEAD, a closed connection) reads nothing.
    pub fn new(file: File, length: u64) -> FileBody {
        FileBody {
            file: Some(file),
            reading: None,
            remaining: length,
        }
    }

    /// 1. Done once `remaining` bytes are sent: a file that grew since its
    ///    length was announced is cut there.
    /// 2. Start reading the next chunk, unless a read is running already.
    /// 3. Wait for it; a file that ends early (truncated while being sent)
    ///    is an error, which makes hyper close the connection: the client
    ///    sees a short body, never a wrong one passing for whole.
    fn poll_next_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        // 1.
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        // 2.
        if let Some(file) = self.file.take() {
            let want = self.remaining.min(CHUNK);
            self.reading = Some(tokio::task::spawn_blocking(move || {
                let chunk = read_chunk(&file, want);
                (file, chunk)
            }));
        }
        // 3.
        let Some(reading) = self.reading.as_mut() else {
            return Poll::Ready(None); // an earlier read failed
        };
        let finished = ready!(Pin::new(reading).poll(cx));
        self.reading = None;
        let (file, chunk) = finished.map_err(io::Error::other)?;
        let chunk = chunk?;
        if chunk.is_empty() {
            let short = io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank while sent");
            return Poll::Ready(Some(Err(short)));
        }
        self.remaining -= chunk.len() as u64;
        self.file = Some(file);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.get_mut().poll_next_chunk(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    /// Exact, so hyper sends `Content-Length` and not chunked encoding
    /// (RFC 9112 §6.3).
    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Up to `want` bytes from `file`; fewer only at its end.
fn read_chunk(file: &File, want: u64) -> io::Result<Bytes> {
    let mut chunk = Vec::with_capacity(want as usize);
    file.take(want).read_to_end(&mut chunk)?;
    Ok(chunk.into())
}
