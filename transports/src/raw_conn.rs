//! The RawSocket connection after the handshake: frames in, frames out, PINGs answered.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_io::{AsyncRead, AsyncWrite};

use crate::io::BoxIo;
use crate::rawsocket::{FrameDecoder, FrameHeader, FrameType};
use crate::{Incoming, Outgoing, TransportError};

/// The size of the read buffer.
const READ_CHUNK: usize = 16 * 1024;
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
}

impl RawConn {
    pub(crate) fn new(io: BoxIo, receive_limit: usize, send_limit: usize) -> RawConn {
        RawConn {
            io,
            decoder: FrameDecoder::new(receive_limit),
            read_buf: vec![0; READ_CHUNK].into_boxed_slice(),
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

    /// Writes queued frames until the queue is empty or the stream would block.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        while !self.out.is_empty() {
            if self.write_done {
                return Poll::Ready(Err(TransportError::Closed));
            }
            let mut slices = [IoSlice::new(&[]); MAX_IOSLICES];
            let count = self.out.len().min(MAX_IOSLICES);
            for (slice, chunk) in slices.iter_mut().zip(self.out.iter()) {
                *slice = IoSlice::new(chunk);
            }
            let written = match Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..count]) {
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
                match self.poll_write_out(cx) {
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
                Poll::Ready(Ok(n)) => self.read_len = n,
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
            ready!(self.poll_write_out(cx))?;
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
        ready!(self.poll_write_out(cx))?;
        Pin::new(&mut self.io).poll_flush(cx).map_err(|error| {
            self.write_done = true;
            error.into()
        })
    }

    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        if self.write_done {
            return Poll::Ready(Ok(()));
        }
        ready!(self.poll_flush(cx))?;
        let result = ready!(Pin::new(&mut self.io).poll_close(cx));
        self.write_done = true;
        Poll::Ready(result.map_err(Into::into))
    }
}
