//! The RawSocket connection after the handshake: frames in, frames out, PINGs answered.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Wake, Waker};

use bytes::{Buf, Bytes, BytesMut};
use futures_io::{AsyncRead, AsyncWrite};
use futures_util::task::AtomicWaker;

use crate::io::BoxIo;
use crate::rawsocket::{FrameDecoder, FrameHeader, FrameType};
use crate::{Incoming, Outgoing, TransportError};

/// The read buffer's smallest and largest sizes: an idle connection holds the smallest, one
/// under load grows to the largest, so that a read takes in many frames (see [`ReadSize`]).
const READ_MIN: usize = 1024;
const READ_MAX: usize = 16 * 1024;
/// Reads in a row that fill less than half the buffer before it shrinks: enough that the
/// uneven reads of a busy connection do not make it shrink and grow again and again.
const SHRINK_AFTER: u8 = 16;
/// `poll_ready` flushes once this much is queued.
const WRITE_HIGH_WATER: usize = 64 * 1024;
/// Reading pauses while this much (mostly PONGs) cannot be written, so a peer that sends
/// PINGs without reading our PONGs cannot grow our queue without bound.
const PONG_BACKLOG_LIMIT: usize = 256 * 1024;
/// Payloads up to this size are copied next to their header, so the pair goes out in one
/// piece.
const COALESCE_MAX: usize = 4 * 1024;
/// The most pieces handed to one vectored write.
const MAX_IOSLICES: usize = 32;

pub(crate) struct RawConn {
    io: BoxIo,
    decoder: FrameDecoder,
    read_buf: Box<[u8]>,
    read_size: ReadSize,
    read_pos: usize,
    read_len: usize,
    /// The peer's limit for what we send.
    send_limit: usize,
    out: VecDeque<Bytes>,
    out_len: usize,
    staging: BytesMut,
    /// No more reading: end of stream seen or a read failed.
    read_done: bool,
    /// No more writing: closed, or a write failed.
    write_done: bool,
    /// Who waits for the socket to take more bytes, and the waker that wakes them all.
    write_wakers: Arc<WriteWakers>,
    write_waker: Waker,
}

/// Which half waits for the socket to take more bytes.
#[derive(Clone, Copy)]
enum Writer {
    /// `poll_next`, which sends PONGs and whatever else is queued.
    Reader,
    /// The sink side: `poll_ready`, `poll_flush`, `poll_close`.
    Sink,
}

/// Both halves of a split connection can wait for write readiness at once (the reader for
/// its PONGs, the sink for its frames), but the socket keeps one waker per direction: the
/// last to poll would take the other's place and leave it asleep forever. The socket is
/// polled with this waker instead, which wakes both.
#[derive(Default)]
struct WriteWakers {
    reader: AtomicWaker,
    sink: AtomicWaker,
}

impl Wake for WriteWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.reader.wake();
        self.sink.wake();
    }
}

impl RawConn {
    pub(crate) fn new(io: BoxIo, receive_limit: usize, send_limit: usize) -> RawConn {
        let write_wakers = Arc::new(WriteWakers::default());
        RawConn {
            write_waker: Waker::from(write_wakers.clone()),
            write_wakers,
            io,
            decoder: FrameDecoder::new(receive_limit),
            read_buf: vec![0; READ_MIN].into_boxed_slice(),
            read_size: ReadSize::default(),
            read_pos: 0,
            read_len: 0,
            send_limit,
            out: VecDeque::new(),
            out_len: 0,
            staging: BytesMut::new(),
            read_done: false,
            write_done: false,
        }
    }

    fn queue_frame(&mut self, frame_type: FrameType, payload: Bytes) -> Result<(), TransportError> {
        let header = FrameHeader::new(frame_type, payload.len())?.encode();
        self.out_len += header.len() + payload.len();
        self.staging.extend_from_slice(&header);
        if payload.len() <= COALESCE_MAX {
            self.staging.extend_from_slice(&payload);
            self.out.push_back(self.staging.split().freeze());
        } else {
            self.out.push_back(self.staging.split().freeze());
            self.out.push_back(payload);
        }
        Ok(())
    }

    /// Writes queued frames until the queue is empty or the stream would block; `who` is
    /// woken when it can write again.
    fn poll_write_out(
        &mut self,
        cx: &mut Context<'_>,
        who: Writer,
    ) -> Poll<Result<(), TransportError>> {
        if self.out.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let wakers = self.write_wakers.clone();
        let (mine, other) = match who {
            Writer::Reader => (&wakers.reader, &wakers.sink),
            Writer::Sink => (&wakers.sink, &wakers.reader),
        };
        mine.register(cx.waker());
        let before = self.out_len;
        let result = self.write_queued();
        // The other half may be waiting for what this one just wrote (its frames share the
        // queue); the socket will not tell it, as it did not block again.
        if self.out_len < before {
            other.wake();
        }
        result
    }

    /// The loop of [`RawConn::poll_write_out`], polling the socket with the waker of both
    /// halves.
    fn write_queued(&mut self) -> Poll<Result<(), TransportError>> {
        let mut cx = Context::from_waker(&self.write_waker);
        while !self.out.is_empty() {
            if self.write_done {
                return Poll::Ready(Err(TransportError::Closed));
            }
            let mut slices = [IoSlice::new(&[]); MAX_IOSLICES];
            let count = self.out.len().min(MAX_IOSLICES);
            for (slice, chunk) in slices.iter_mut().zip(self.out.iter()) {
                *slice = IoSlice::new(chunk);
            }
            let written = match Pin::new(&mut self.io)
                .poll_write_vectored(&mut cx, &slices[..count])
            {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    self.write_done = true;
                    return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into()));
                }
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(error)) if error.kind() == io::ErrorKind::Interrupted => continue,
                Poll::Ready(Err(error)) => {
                    self.write_done = true;
                    return Poll::Ready(Err(error.into()));
                }
            };
            self.out_len -= written;
            let mut left = written;
            while left > 0 {
                let Some(front) = self.out.front_mut() else {
                    break;
                };
                if front.len() <= left {
                    left -= front.len();
                    self.out.pop_front();
                } else {
                    front.advance(left);
                    left = 0;
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Incoming, TransportError>>> {
        loop {
            // Send PONGs (and anything else queued) even if the application never writes.
            if !self.write_done {
                match self.poll_write_out(cx, Writer::Reader) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(error)) => {
                        self.read_done = true;
                        return Poll::Ready(Some(Err(error)));
                    }
                    Poll::Pending if self.out_len >= PONG_BACKLOG_LIMIT => return Poll::Pending,
                    Poll::Pending => {}
                }
            }
            if self.read_done {
                return Poll::Ready(None);
            }
            if self.read_pos < self.read_len {
                let input = &self.read_buf[self.read_pos..self.read_len];
                let (used, frame) = match self.decoder.decode(input) {
                    Ok(decoded) => decoded,
                    Err(error) => {
                        self.read_done = true;
                        return Poll::Ready(Some(Err(error.into())));
                    }
                };
                self.read_pos += used;
                let Some(frame) = frame else { continue };
                match frame.frame_type {
                    FrameType::Message => {
                        return Poll::Ready(Some(Ok(Incoming::Message(frame.payload))))
                    }
                    FrameType::Pong => return Poll::Ready(Some(Ok(Incoming::Pong(frame.payload)))),
                    FrameType::Ping => {
                        if !self.write_done {
                            // Cannot fail: the payload is within the decoder's limit (≤ 2^24).
                            self.queue_frame(FrameType::Pong, frame.payload)?;
                        }
                        continue;
                    }
                }
            }
            self.read_pos = 0;
            self.read_len = 0;
            // The buffer is empty here, so this is where it changes size.
            if self.read_buf.len() != self.read_size.next {
                self.read_buf = vec![0; self.read_size.next].into_boxed_slice();
            }
            match Pin::new(&mut self.io).poll_read(cx, &mut self.read_buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    self.read_done = true;
                    if self.decoder.is_idle() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the RawSocket connection in the middle of a frame",
                    )
                    .into())));
                }
                Poll::Ready(Ok(n)) => {
                    self.read_len = n;
                    self.read_size.record(n);
                }
                Poll::Ready(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(error)) => {
                    self.read_done = true;
                    return Poll::Ready(Some(Err(error.into())));
                }
            }
        }
    }

    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        if self.write_done {
            return Poll::Ready(Err(TransportError::Closed));
        }
        if self.out_len >= WRITE_HIGH_WATER {
            ready!(self.poll_write_out(cx, Writer::Sink))?;
        }
        Poll::Ready(Ok(()))
    }

    pub(crate) fn start_send(&mut self, item: Outgoing) -> Result<(), TransportError> {
        if self.write_done {
            return Err(TransportError::Closed);
        }
        let (frame_type, payload) = match item {
            Outgoing::Message(payload) => (FrameType::Message, payload),
            Outgoing::Ping(payload) => (FrameType::Ping, payload),
        };
        if payload.len() > self.send_limit {
            return Err(TransportError::TooLarge {
                size: payload.len(),
                limit: self.send_limit,
            });
        }
        self.queue_frame(frame_type, payload)
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        if self.write_done {
            return Poll::Ready(if self.out.is_empty() {
                Ok(())
            } else {
                Err(TransportError::Closed)
            });
        }
        ready!(self.poll_write_out(cx, Writer::Sink))?;
        // A TLS stream writes here too: the same waker as for writes.
        self.write_wakers.sink.register(cx.waker());
        let mut cx = Context::from_waker(&self.write_waker);
        Pin::new(&mut self.io).poll_flush(&mut cx).map_err(|error| {
            self.write_done = true;
            error.into()
        })
    }

    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        if self.write_done {
            return Poll::Ready(Ok(()));
        }
        ready!(self.poll_flush(cx))?;
        self.write_wakers.sink.register(cx.waker());
        let mut cx = Context::from_waker(&self.write_waker);
        let result = ready!(Pin::new(&mut self.io).poll_close(&mut cx));
        self.write_done = true;
        Poll::Ready(result.map_err(Into::into))
    }
}

/// The size of the next read: doubled when a read fills the buffer, halved after
/// [`SHRINK_AFTER`] reads in a row that fill less than half of it. Ten thousand idle
/// connections then hold 1 KiB each rather than the 16 KiB that keeps a busy one at few reads
/// per burst. (A larger buffer was measured slower with 64 KiB payloads: it no longer stays in
/// the CPU's first-level cache between the read and the copy into the frame.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReadSize {
    next: usize,
    small_reads: u8,
}

impl Default for ReadSize {
    fn default() -> ReadSize {
        ReadSize {
            next: READ_MIN,
            small_reads: 0,
        }
    }
}

impl ReadSize {
    /// Adapts to a read of `n` bytes into a buffer of `self.next` bytes.
    fn record(&mut self, n: usize) {
        if n >= self.next {
            self.next = (self.next * 2).min(READ_MAX);
            self.small_reads = 0;
        } else if n < self.next / 2 && self.next > READ_MIN {
            self.small_reads += 1;
            if self.small_reads >= SHRINK_AFTER {
                self.next = (self.next / 2).max(READ_MIN);
                self.small_reads = 0;
            }
        } else {
            self.small_reads = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_size_grows_under_load_and_shrinks_when_reads_get_small() {
        let mut size = ReadSize::default();
        assert_eq!(size.next, READ_MIN);
        for _ in 0..10 {
            let full = size.next;
            size.record(full);
        }
        assert_eq!(
            size.next, READ_MAX,
            "full reads double the size up to the largest"
        );
        for _ in 1..SHRINK_AFTER {
            size.record(10);
        }
        assert_eq!(
            size.next, READ_MAX,
            "a few small reads are not enough to shrink"
        );
        size.record(READ_MAX / 2);
        for _ in 1..SHRINK_AFTER {
            size.record(10);
        }
        assert_eq!(size.next, READ_MAX, "the small reads must come in a row");
        size.record(10);
        assert_eq!(size.next, READ_MAX / 2);
        for _ in 0..100 {
            size.record(1);
        }
        assert_eq!(size.next, READ_MIN, "never below the smallest");
    }
}
