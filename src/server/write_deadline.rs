//! A socket whose writes must make progress: a client that stops reading
//! our responses (its receive window stays shut, so every write waits) is
//! cut off after a time limit instead of holding its connection forever.
//!
//! hyper has a timer for reading a request head but none for writing, and
//! a client that pipelines requests without ever reading the answers
//! fills the kernel's send buffer, after which every write is `Pending`.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, Sleep};

/// `inner`, except that a write, flush or shutdown that stays `Pending`
/// for `limit` fails with `TimedOut`. hyper then drops the connection, and
/// its slot is free again. Reads pass straight through: the request head
/// and body have their own deadlines.
pub struct WriteDeadline<T> {
    inner: T,
    limit: Duration,
    /// Armed when a write first returns `Pending`; cleared by any write
    /// that goes through. Progress, however slow, resets the clock.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteDeadline<T> {
    pub fn new(inner: T, limit: Duration) -> WriteDeadline<T> {
        WriteDeadline {
            inner,
            limit,
            stalled: None,
        }
    }

    /// Passes a finished write on and clears the clock; holds a `Pending`
    /// one until the clock runs out, then turns it into an error.
    ///
    /// 1. Ready (done or failed): the client took bytes, or the socket is
    ///    gone; either way this stall is over.
    /// 2. Pending: start the clock if it is not running, and poll it, so
    ///    that the task wakes when it runs out even if the socket never
    ///    becomes writable again.
    /// 3. Run out: fail the write.
    fn bounded<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        // 1.
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        // 2.
        let limit = self.limit;
        let clock = self.stalled.get_or_insert_with(|| Box::pin(sleep(limit)));
        if clock.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        // 3.
        self.stalled = None;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client read nothing of our response for {limit:?}"),
        )))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.bounded(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.bounded(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.bounded(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.bounded(cx, poll)
    }
}
