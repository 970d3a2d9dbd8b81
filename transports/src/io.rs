//! Type erasure for the byte streams under a transport, and a stream that replays octets
//! already read (for port sharing).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

/// A byte stream a transport can run on.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The erased stream.
pub(crate) type BoxIo = Box<dyn Io>;

/// A stream whose first reads return `prefix` (octets already taken from `inner`), then
/// whatever `inner` has.
pub(crate) struct Prefixed<S> {
    prefix: [u8; 1],
    prefix_len: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    pub(crate) fn new(prefix: u8, inner: S) -> Prefixed<S> {
        Prefixed {
            prefix: [prefix],
            prefix_len: 1,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.prefix_len > 0 && !buf.is_empty() {
            let start = this.prefix.len() - this.prefix_len;
            let n = this.prefix_len.min(buf.len());
            buf[..n].copy_from_slice(&this.prefix[start..start + n]);
            this.prefix_len -= n;
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}
