//! The WebSocket connection after the opening handshake.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use async_tungstenite::WebSocketStream;
use bytes::Bytes;
use futures_util::{AsyncWrite, Sink, Stream};

use crate::io::BoxIo;
use crate::{Incoming, Outgoing, TransportError};

/// The largest payload of a WebSocket control frame (PING, PONG, CLOSE): RFC 6455 §5.5.
pub(crate) const MAX_CONTROL_PAYLOAD: usize = 125;

/// The tungstenite configuration for a receive limit of `max_message_size`.
pub(crate) fn config(max_message_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
        // Far smaller than tungstenite's 128 KiB: every connection holds this buffer for its
        // whole life (10,000 idle sessions: 11 KiB each with 4 KiB, 23 KiB with 16 KiB), and
        // 64 KiB messages were measured as fast with 4 KiB reads as with 16 KiB.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(64 * 1024)
        // Backpressure: never queue more than this when the peer does not read.
        .max_write_buffer_size(64 * 1024 + max_message_size.saturating_add(16))
}

pub(crate) struct WsConn {
    ws: WebSocketStream<BoxIo>,
    /// JSON sessions send text frames.
    text: bool,
    send_limit: usize,
    close_sent: bool,
    /// Servers close the TCP connection once the closing handshake is done (RFC 6455 §7.1.1).
    server: bool,
}

impl WsConn {
    pub(crate) fn new(
        ws: WebSocketStream<BoxIo>,
        text: bool,
        send_limit: usize,
        server: bool,
    ) -> WsConn {
        WsConn {
            ws,
            text,
            send_limit,
            close_sent: false,
            server,
        }
    }

    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Incoming, TransportError>>> {
        loop {
            let message = match ready!(Pin::new(&mut self.ws).poll_next(cx)) {
                None => {
                    if self.server {
                        // Best effort: one attempt, whatever it gives; dropping the
                        // transport closes the stream anyway.
                        let _ = Pin::new(self.ws.get_mut()).poll_close(cx);
                    }
                    return Poll::Ready(None);
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(error.into()))),
                Some(Ok(message)) => message,
            };
            match message {
                // Both frame kinds are accepted whatever the serializer (see the crate docs).
                Message::Text(text) => {
                    return Poll::Ready(Some(Ok(Incoming::Message(Bytes::from(text)))))
                }
                Message::Binary(bytes) => return Poll::Ready(Some(Ok(Incoming::Message(bytes)))),
                Message::Pong(bytes) => return Poll::Ready(Some(Ok(Incoming::Pong(bytes)))),
                Message::Ping(_) => {
                    // tungstenite queued the PONG; push it out now even if the application
                    // never writes (the next read would also try). A failure here shows up
                    // on that next read.
                    let _ = Pin::new(&mut self.ws).poll_flush(cx);
                }
                // tungstenite answers the CLOSE itself; the next read ends the stream.
                Message::Close(_) | Message::Frame(_) => {}
            }
        }
    }

    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        if self.close_sent {
            return Poll::Ready(Err(TransportError::Closed));
        }
        Pin::new(&mut self.ws).poll_ready(cx).map_err(Into::into)
    }

    pub(crate) fn start_send(&mut self, item: Outgoing) -> Result<(), TransportError> {
        if self.close_sent {
            return Err(TransportError::Closed);
        }
        let message = match item {
            Outgoing::Message(payload) => {
                if payload.len() > self.send_limit {
                    return Err(TransportError::TooLarge {
                        size: payload.len(),
                        limit: self.send_limit,
                    });
                }
                if self.text {
                    let text = Utf8Bytes::try_from(payload).map_err(|_| {
                        TransportError::Protocol(
                            "a JSON session sends text frames, but the message is not valid UTF-8"
                                .into(),
                        )
                    })?;
                    Message::Text(text)
                } else {
                    Message::Binary(payload)
                }
            }
            Outgoing::Ping(payload) => {
                if payload.len() > MAX_CONTROL_PAYLOAD {
                    return Err(TransportError::TooLarge {
                        size: payload.len(),
                        limit: MAX_CONTROL_PAYLOAD,
                    });
                }
                Message::Ping(payload)
            }
        };
        Pin::new(&mut self.ws)
            .start_send(message)
            .map_err(Into::into)
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Pin::new(&mut self.ws).poll_flush(cx).map_err(Into::into)
    }

    /// Sends a CLOSE (1000, normal closure) once and flushes it. The peer's CLOSE arrives
    /// through `poll_next`, which then ends.
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        if !self.close_sent {
            match ready!(Pin::new(&mut self.ws).poll_ready(cx)) {
                Ok(()) => {}
                Err(error) => return Poll::Ready(ignore_closed(error)),
            }
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: Utf8Bytes::from_static(""),
            };
            if let Err(error) = Pin::new(&mut self.ws).start_send(Message::Close(Some(frame))) {
                self.close_sent = true;
                return Poll::Ready(ignore_closed(error));
            }
            self.close_sent = true;
        }
        Pin::new(&mut self.ws)
            .poll_flush(cx)
            .map(|result| result.or_else(ignore_closed))
    }
}

/// Closing a connection that is already closed is not an error.
fn ignore_closed(error: tungstenite::Error) -> Result<(), TransportError> {
    match error {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => Ok(()),
        other => Err(other.into()),
    }
}
