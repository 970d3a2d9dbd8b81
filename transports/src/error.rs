//! The transport error type.

use async_tungstenite::tungstenite;

use crate::rawsocket::{FrameError, HandshakeError, RawSocketError};
use crate::tls::TlsError;

/// Why a transport could not be opened, or failed.
///
/// Apart from [`TransportError::TooLarge`] returned by sending (see
/// [`Transport`](crate::Transport)), every error ends the transport: drop it.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The underlying stream failed (including an end of stream in the middle of a frame or
    /// handshake).
    #[error("transport I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The transport was closed (by [`Transport::close`](crate::Transport::close) or after
    /// a fatal error) and can no longer be used.
    #[error("the transport is closed")]
    Closed,
    /// A message is larger than the limit. Received: the peer broke the negotiated limit and
    /// the transport is failed. Sent: the message was not sent and the transport is still
    /// usable.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The size of the message.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The peer broke the transport protocol, or a message cannot be sent as the session
    /// requires (e.g. JSON that is not UTF-8).
    #[error("transport protocol violation: {0}")]
    Protocol(String),
    /// A RawSocket frame was malformed (an over-long frame is [`TransportError::TooLarge`]).
    #[error(transparent)]
    Frame(FrameError),
    /// RawSocket handshake octets were malformed.
    #[error(transparent)]
    RawSocketHandshake(#[from] HandshakeError),
    /// The RawSocket router refused the connection with an error reply.
    #[error("RawSocket connection refused: {0}")]
    Refused(RawSocketError),
    /// The WebSocket layer failed.
    #[error("WebSocket error: {0}")]
    WebSocket(#[source] Box<tungstenite::Error>),
    /// TLS failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The opening handshake failed: no common serializer, a refused upgrade, an answer
    /// that does not match the request.
    #[error("transport handshake failed: {0}")]
    Handshake(String),
}

impl From<FrameError> for TransportError {
    fn from(error: FrameError) -> TransportError {
        match error {
            FrameError::TooLarge { size, limit } => TransportError::TooLarge { size, limit },
            other => TransportError::Frame(other),
        }
    }
}

impl From<tungstenite::Error> for TransportError {
    fn from(error: tungstenite::Error) -> TransportError {
        use tungstenite::error::CapacityError;
        match error {
            tungstenite::Error::Io(error) => TransportError::Io(error),
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                TransportError::Closed
            }
            tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
                TransportError::TooLarge {
                    size,
                    limit: max_size,
                }
            }
            other => TransportError::WebSocket(Box::new(other)),
        }
    }
}
