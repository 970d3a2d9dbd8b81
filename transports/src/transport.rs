//! A connected, negotiated transport.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::FusedStream;
use futures_util::{Sink, SinkExt, Stream};
use nexus_core::Serializer;

use crate::raw_conn::RawConn;
use crate::ws_conn::WsConn;
use crate::TransportError;

/// What a transport receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// One serialized WAMP message, or one batch when the transport
    /// [is batched](Transport::is_batched) (split it with
    /// [`Serializer::decode_batch`](nexus_core::Serializer::decode_batch)).
    Message(Bytes),
    /// The answer to an [`Outgoing::Ping`], with its payload.
    Pong(Bytes),
}

/// What a transport sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// One serialized WAMP message, or one batch when the transport is batched (make it with
    /// [`Serializer::encode_batch`](nexus_core::Serializer::encode_batch), even for a single
    /// message).
    Message(Bytes),
    /// A keep-alive probe; the peer answers with a pong carrying the same payload, which
    /// arrives as [`Incoming::Pong`]. WebSocket limits the payload to 125 bytes.
    Ping(Bytes),
}

/// The transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// WAMP over WebSocket.
    WebSocket,
    /// WAMP over RawSocket.
    RawSocket,
}

/// The HTTP request that opened a WebSocket transport on the server side, for what the
/// router may want from it (cookies, forwarding headers, the path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The request target, e.g. `/ws?x=1`.
    pub path: String,
    /// The headers (repeated names grouped together), names in lower case. Values that are
    /// not UTF-8 are decoded lossily.
    pub headers: Vec<(String, String)>,
}

impl UpgradeRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The value of the first cookie named `name` in the `Cookie` headers (RFC 6265
    /// `name=value` pairs separated by `;`; surrounding double quotes are removed).
    ///
    /// ```
    /// use nexus_transports::UpgradeRequest;
    ///
    /// let request = UpgradeRequest {
    ///     path: "/ws".into(),
    ///     headers: vec![("cookie".into(), "a=1; cbtid=\"xyz\"; b=2".into())],
    /// };
    /// assert_eq!(request.cookie("cbtid"), Some("xyz"));
    /// assert_eq!(request.cookie("c"), None);
    /// ```
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, value)| value.split(';'))
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| key.trim() == name)
            .map(|(_, value)| {
                let value = value.trim();
                value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value)
            })
    }
}

pub(crate) enum Conn {
    WebSocket(Box<WsConn>),
    RawSocket(Box<RawConn>),
}

/// A connected transport with its serializer negotiated: a [`Stream`] of [`Incoming`] and a
/// [`Sink`] of [`Outgoing`] in one object, so one task can `select` over reading and writing.
///
/// **Reading** yields one item per WAMP message (or per batch), `None` once the peer closed
/// cleanly, and an error when the transport failed (after which it yields `None`).
/// `poll_next` keeps all its state in the transport, so dropping a pending `next()` future
/// (e.g. in a `select!`) loses nothing. It also answers keep-alive pings: keep polling it even
/// when you expect no messages, or pings go unanswered.
///
/// **Writing** follows the usual `Sink` rules: `poll_ready`, `start_send`, and `poll_flush`
/// to get buffered messages onto the wire (`SinkExt::send` does all three). A message larger
/// than [`send_limit`](Transport::send_limit) is refused by `start_send` with
/// [`TransportError::TooLarge`], and on a JSON WebSocket session a message that is not UTF-8
/// with [`TransportError::Protocol`]; such a message is not sent and the transport stays
/// usable. Any other error is fatal.
///
/// **Frames**: on WebSocket, JSON sessions send text frames and MessagePack/CBOR sessions
/// binary frames; received messages are accepted in either kind of frame. On RawSocket,
/// PINGs are answered with a PONG echoing the payload, and a frame over
/// [`receive_limit`](Transport::receive_limit) fails the transport with
/// [`TransportError::TooLarge`] before any of its payload is buffered.
///
/// **Closing**: [`close`](Transport::close) (or `SinkExt::close`) sends a WebSocket CLOSE or
/// shuts down the RawSocket's write half, and returns once that is flushed. It does not wait
/// for the peer: to close gracefully, keep reading until `None` (with a timeout), then drop
/// the transport. Dropping closes the underlying stream.
pub struct Transport {
    serializer: Serializer,
    batched: bool,
    receive_limit: usize,
    send_limit: usize,
    upgrade_request: Option<UpgradeRequest>,
    response_headers: Vec<(String, String)>,
    conn: Conn,
    ended: bool,
}

impl Transport {
    pub(crate) fn new(
        serializer: Serializer,
        batched: bool,
        receive_limit: usize,
        send_limit: usize,
        upgrade_request: Option<UpgradeRequest>,
        conn: Conn,
    ) -> Transport {
        Transport {
            serializer,
            batched,
            receive_limit,
            send_limit,
            upgrade_request,
            response_headers: Vec::new(),
            conn,
            ended: false,
        }
    }

    pub(crate) fn with_response_headers(mut self, headers: Vec<(String, String)>) -> Self {
        self.response_headers = headers;
        self
    }

    /// The negotiated serializer.
    pub fn serializer(&self) -> Serializer {
        self.serializer
    }

    /// Whether every message is a batch (a `wamp.2.*.batched` WebSocket subprotocol).
    /// RawSocket is never batched.
    pub fn is_batched(&self) -> bool {
        self.batched
    }

    /// WebSocket or RawSocket.
    pub fn kind(&self) -> TransportKind {
        match self.conn {
            Conn::WebSocket(_) => TransportKind::WebSocket,
            Conn::RawSocket(_) => TransportKind::RawSocket,
        }
    }

    /// The largest message (or batch) this side accepts; a larger one fails the transport.
    /// For RawSocket it is the length announced in the handshake.
    pub fn receive_limit(&self) -> usize {
        self.receive_limit
    }

    /// The largest message (or batch) this side sends: for RawSocket the length the peer
    /// announced, for WebSocket (where the peer announces nothing) the configured maximum
    /// message size.
    pub fn send_limit(&self) -> usize {
        self.send_limit
    }

    /// The HTTP upgrade request, for WebSocket transports accepted by a server.
    pub fn upgrade_request(&self) -> Option<&UpgradeRequest> {
        self.upgrade_request.as_ref()
    }

    /// The headers of the server's HTTP upgrade response (names in lower case), for
    /// WebSocket transports opened by a client: a `set-cookie` to present next time, for
    /// example. Empty otherwise.
    pub fn response_headers(&self) -> &[(String, String)] {
        &self.response_headers
    }

    /// Starts closing (see the type's documentation): sends a WebSocket CLOSE (code 1000) or
    /// shuts down the RawSocket's write half, after flushing what is queued. Closing twice
    /// is fine.
    pub async fn close(&mut self) -> Result<(), TransportError> {
        SinkExt::close(self).await
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("kind", &self.kind())
            .field("serializer", &self.serializer)
            .field("batched", &self.batched)
            .field("receive_limit", &self.receive_limit)
            .field("send_limit", &self.send_limit)
            .finish_non_exhaustive()
    }
}

impl Stream for Transport {
    type Item = Result<Incoming, TransportError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let item = match &mut this.conn {
            Conn::WebSocket(conn) => conn.poll_next(cx),
            Conn::RawSocket(conn) => conn.poll_next(cx),
        };
        if let Poll::Ready(None) = item {
            this.ended = true;
        }
        item
    }
}

impl FusedStream for Transport {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl Sink<Outgoing> for Transport {
    type Error = TransportError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match &mut self.get_mut().conn {
            Conn::WebSocket(conn) => conn.poll_ready(cx),
            Conn::RawSocket(conn) => conn.poll_ready(cx),
        }
    }

    fn start_send(self: Pin<&mut Self>, item: Outgoing) -> Result<(), Self::Error> {
        match &mut self.get_mut().conn {
            Conn::WebSocket(conn) => conn.start_send(item),
            Conn::RawSocket(conn) => conn.start_send(item),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match &mut self.get_mut().conn {
            Conn::WebSocket(conn) => conn.poll_flush(cx),
            Conn::RawSocket(conn) => conn.poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match &mut self.get_mut().conn {
            Conn::WebSocket(conn) => conn.poll_close(cx),
            Conn::RawSocket(conn) => conn.poll_close(cx),
        }
    }
}
