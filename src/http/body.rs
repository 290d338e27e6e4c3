//! The body of every latch response: bytes already in memory (a page, an
//! error, a built-in file), or a stream (a file from the www dir, sent as
//! it is read: `static_files`).
//!
//! An enum with a boxed variant for streams: the pages, on the hot path,
//! pay one `match` per poll and no allocation for being able to stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Frame, SizeHint};

/// A body that arrives as it is produced.
pub type Stream = Pin<Box<dyn hyper::body::Body<Data = Bytes, Error = io::Error> + Send>>;

pub enum Body {
    /// Bytes in memory, sent in one frame.
    Full(Full<Bytes>),
    /// Produced as it is sent.
    Stream(Stream),
}

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        Body::Full(Full::new(bytes.into()))
    }

    pub fn empty() -> Body {
        Body::full(Bytes::new())
    }

    pub fn stream(
        body: impl hyper::body::Body<Data = Bytes, Error = io::Error> + Send + 'static,
    ) -> Body {
        Body::Stream(Box::pin(body))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Full(full) => Pin::new(full)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            Body::Stream(stream) => stream.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(full) => full.is_end_stream(),
            Body::Stream(stream) => stream.is_end_stream(),
        }
    }

    /// Exact for bytes in memory, and for a file (which knows its length),
    /// so hyper sends `Content-Length` and not chunked encoding (RFC 9112
    /// §6.3).
    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(full) => full.size_hint(),
            Body::Stream(stream) => stream.size_hint(),
        }
    }
}
