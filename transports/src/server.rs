//! The router side: accepting WebSocket and RawSocket transports.

use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};
use futures_io::{AsyncRead, AsyncWrite};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use nexus_core::Serializer;

use crate::io::{BoxIo, Prefixed};
use crate::raw_conn::RawConn;
use crate::rawsocket::{
    HandshakeError, HandshakeReply, HandshakeRequest, MaxLength, RawSocketError, HANDSHAKE_LEN,
    MAGIC,
};
use crate::transport::{Conn, UpgradeRequest};
use crate::ws_conn::{self, WsConn};
use crate::{Transport, TransportError};

/// What a router accepts.
///
/// ```
/// use nexus_core::Serializer;
/// use nexus_transports::ServerConfig;
/// let config = ServerConfig {
///     serializers: vec![Serializer::Cbor, Serializer::Json],
///     max_message_size: 1 << 20,
///     ..ServerConfig::default()
/// };
/// # let _ = config;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The serializers to accept. On WebSocket the client's order decides: its first offer
    /// that is in this list wins (as Crossbar does). On RawSocket the client names one.
    /// Default: all three.
    pub serializers: Vec<Serializer>,
    /// The largest message (or batch) to receive; default 16 MiB. RawSocket can only
    /// announce powers of two from 512 bytes to 16 MiB, so there it is rounded down to one
    /// (and up to 512 bytes), and the rounded value is what is enforced.
    pub max_message_size: usize,
    /// Whether to accept the batched WebSocket subprotocols (`wamp.2.json.batched`, ...);
    /// default true.
    pub allow_batched: bool,
    /// RawSocket: refuse (error 2, "maximum message length unacceptable") a client that
    /// announces it receives less than this. Default 0: accept any.
    pub min_client_max_message_size: usize,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            serializers: Serializer::ALL.to_vec(),
            max_message_size: 16 * 1024 * 1024,
            allow_batched: true,
            min_client_max_message_size: 0,
        }
    }
}

/// Cookie tracking on a WebSocket listener: the name and lifetime of the cookie the router
/// sets for WAMP cookie authentication.
///
/// ```
/// use std::time::Duration;
/// use nexus_transports::CookieConfig;
///
/// let config = CookieConfig { name: "cbtid".into(), max_age: Duration::from_secs(3600) };
/// assert_eq!(
///     config.set_cookie("abc", true),
///     "cbtid=abc; Max-Age=3600; Path=/; HttpOnly; SameSite=Strict; Secure"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieConfig {
    /// The cookie's name (default `cbtid`, as Crossbar names it).
    pub name: String,
    /// How long the cookie, and the identity bound to it, lives (default 1 day).
    pub max_age: std::time::Duration,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            name: "cbtid".into(),
            max_age: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

impl CookieConfig {
    /// The `Set-Cookie` header value for `value`: `HttpOnly` (scripts cannot read it),
    /// `SameSite=Strict` (other sites' pages cannot make the browser send it), and `Secure`
    /// when the listener is TLS.
    pub fn set_cookie(&self, value: &str, secure: bool) -> String {
        let mut header = format!(
            "{}={value}; Max-Age={}; Path=/; HttpOnly; SameSite=Strict",
            self.name,
            self.max_age.as_secs()
        );
        if secure {
            header.push_str("; Secure");
        }
        header
    }
}

impl ServerConfig {
    fn subprotocols(&self) -> String {
        let mut names = Vec::new();
        for serializer in &self.serializers {
            names.push(serializer.subprotocol());
            if self.allow_batched {
                names.push(serializer.batched_subprotocol());
            }
        }
        names.join(", ")
    }
}

/// Accepts a WAMP-over-WebSocket connection: reads the HTTP upgrade request, picks the
/// client's first offered `wamp.2.*` subprotocol that `config` allows and answers 101.
///
/// When nothing offered is acceptable the upgrade is refused with HTTP 400 and a plain-text
/// reason, and the error says what the client offered. The request is bounded (64 KiB,
/// 124 headers); there is no time limit: wrap the call in your runtime's timeout.
///
/// Messages arrive as they come: text and binary frames are both accepted whatever the
/// serializer (a lenient reading of the spec, which asks for text with JSON and binary
/// otherwise); this side sends text frames for JSON and binary frames for MessagePack and
/// CBOR.
pub async fn accept_websocket<S>(
    stream: S,
    config: &ServerConfig,
) -> Result<Transport, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    accept_websocket_with(stream, config, |_| Vec::new()).await
}

/// [`accept_websocket`] with a say in the handshake response: `respond` sees the upgrade
/// request (once a subprotocol is agreed) and returns extra response headers, for example
/// a `Set-Cookie` (see [`CookieConfig`]). Headers whose name or value is not valid HTTP
/// are left out.
///
/// ```
/// use nexus_transports::{accept_websocket_with, CookieConfig, ServerConfig};
/// # async fn example(stream: smol::net::TcpStream) -> Result<(), nexus_transports::TransportError> {
/// let cookies = CookieConfig::default();
/// let transport = accept_websocket_with(stream, &ServerConfig::default(), |request| {
///     match request.cookie(&cookies.name) {
///         Some(_) => Vec::new(),
///         None => vec![("Set-Cookie".into(), cookies.set_cookie("fresh-random-value", false))],
///     }
/// })
/// .await?;
/// # let _ = transport; Ok(()) }
/// ```
pub async fn accept_websocket_with<S, F>(
    stream: S,
    config: &ServerConfig,
    respond: F,
) -> Result<Transport, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(&UpgradeRequest) -> Vec<(String, String)> + Send,
{
    let mut respond = Some(respond);
    let io: BoxIo = Box::new(stream);
    let mut outcome: Option<Result<(Serializer, bool, UpgradeRequest), String>> = None;
    // tungstenite fixes the callback's signature, large error type included.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, mut response: Response| {
        let offered: Vec<&str> = request
            .headers()
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .collect();
        let chosen = offered.iter().find_map(|name| {
            Serializer::from_subprotocol(name).filter(|(serializer, batched)| {
                config.serializers.contains(serializer) && (config.allow_batched || !batched)
            })
        });
        match chosen {
            Some((serializer, batched)) => {
                let name = if batched {
                    serializer.batched_subprotocol()
                } else {
                    serializer.subprotocol()
                };
                response.headers_mut().insert(
                    header::SEC_WEBSOCKET_PROTOCOL,
                    HeaderValue::from_static(name),
                );
                let upgrade = UpgradeRequest {
                    path: request
                        .uri()
                        .path_and_query()
                        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
                    headers: request
                        .headers()
                        .iter()
                        .map(|(name, value)| {
                            (
                                name.as_str().to_owned(),
                                String::from_utf8_lossy(value.as_bytes()).into_owned(),
                            )
                        })
                        .collect(),
                };
                if let Some(respond) = respond.take() {
                    for (name, value) in respond(&upgrade) {
                        if let (Ok(name), Ok(value)) = (
                            header::HeaderName::from_bytes(name.as_bytes()),
                            HeaderValue::from_str(&value),
                        ) {
                            response.headers_mut().append(name, value);
                        }
                    }
                }
                outcome = Some(Ok((serializer, batched, upgrade)));
                Ok(response)
            }
            None => {
                let reason = if offered.is_empty() {
                    format!(
                        "the client offered no WebSocket subprotocol; WAMP requires one of: {}",
                        config.subprotocols()
                    )
                } else {
                    format!(
                        "no common WAMP subprotocol: the client offered {}; this server accepts {}",
                        offered.join(", "),
                        config.subprotocols()
                    )
                };
                outcome = Some(Err(reason.clone()));
                Err(refusal(reason))
            }
        }
    };
    let result = async_tungstenite::accept_hdr_async_with_config(
        io,
        callback,
        Some(ws_conn::config(config.max_message_size)),
    )
    .await;
    match (result, outcome) {
        (Ok(ws), Some(Ok((serializer, batched, upgrade)))) => Ok(Transport::new(
            serializer,
            batched,
            config.max_message_size,
            config.max_message_size,
            Some(upgrade),
            Conn::WebSocket(Box::new(WsConn::new(
                ws,
                !serializer.is_binary(),
                config.max_message_size,
                true,
            ))),
        )),
        (_, Some(Err(reason))) => Err(TransportError::Handshake(reason)),
        (Err(error), _) => Err(TransportError::Handshake(format!(
            "WebSocket upgrade failed: {}",
            TransportError::from(error)
        ))),
        (Ok(_), None) => Err(TransportError::Handshake(
            "WebSocket upgrade completed without negotiating a subprotocol".into(),
        )),
    }
}

fn refusal(reason: String) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(reason));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Accepts a WAMP-over-RawSocket connection: reads the client's 4-octet handshake and
/// answers it.
///
/// | the client's handshake | answer |
/// |---|---|
/// | first octet not 0x7F | none: fails with [`HandshakeError::NotRawSocket`] |
/// | reserved octets not zero | error 3, then fails |
/// | serializer not in `config.serializers` (or not JSON/MessagePack/CBOR) | error 1, then fails |
/// | announced maximum below `config.min_client_max_message_size` | error 2, then fails |
/// | otherwise | success: the serializer, and `config.max_message_size` rounded down to a power of two |
///
/// Error 4 (too many connections) is the caller's decision: see [`reject_rawsocket`].
/// There is no time limit: wrap the call in your runtime's timeout.
pub async fn accept_rawsocket<S>(
    mut stream: S,
    config: &ServerConfig,
) -> Result<Transport, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let octets = read_handshake(&mut stream).await?;
    let request = match HandshakeRequest::parse(octets) {
        Ok(request) => request,
        Err(HandshakeError::ReservedBits(a, b)) => {
            refuse(&mut stream, RawSocketError::ReservedBitsUsed).await;
            return Err(TransportError::Handshake(format!(
                "refused a RawSocket client (error 3): its handshake sets the reserved octets to {a:#04x} {b:#04x}"
            )));
        }
        Err(error) => return Err(error.into()),
    };
    let serializer = request
        .serializer()
        .filter(|serializer| config.serializers.contains(serializer));
    let Some(serializer) = serializer else {
        refuse(&mut stream, RawSocketError::SerializerUnsupported).await;
        return Err(TransportError::Handshake(format!(
            "refused a RawSocket client (error 1): it asked for serializer {} ({}); this server accepts {}",
            request.serializer_id,
            serializer_name(request.serializer_id),
            config
                .serializers
                .iter()
                .map(|s| format!("{} ({})", s.rawsocket_id(), s.name()))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    if request.max_length.bytes() < config.min_client_max_message_size {
        refuse(&mut stream, RawSocketError::MaxLengthUnacceptable).await;
        return Err(TransportError::Handshake(format!(
            "refused a RawSocket client (error 2): it receives at most {} but this server requires at least {} bytes",
            request.max_length, config.min_client_max_message_size
        )));
    }
    let ours = MaxLength::at_most(config.max_message_size);
    let reply = HandshakeReply::Accepted {
        serializer_id: request.serializer_id,
        max_length: ours,
    };
    stream.write_all(&reply.encode()).await?;
    stream.flush().await?;
    Ok(Transport::new(
        serializer,
        false,
        ours.bytes(),
        request.max_length.bytes(),
        None,
        Conn::RawSocket(Box::new(RawConn::new(
            Box::new(stream),
            ours.bytes(),
            request.max_length.bytes(),
        ))),
    ))
}

/// Refuses a RawSocket client with `error` (typically [`RawSocketError::MaxConnections`]):
/// reads its handshake, answers with the error reply and closes the stream.
///
/// Reading the handshake first matters: closing a socket with unread data makes the
/// operating system reset the connection, which can destroy the reply in flight. A client
/// that does not speak RawSocket gets no reply. There is no time limit: wrap the call in
/// your runtime's timeout.
pub async fn reject_rawsocket<S>(mut stream: S, error: RawSocketError) -> Result<(), TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let octets = read_handshake(&mut stream).await?;
    if octets[0] != MAGIC {
        return Err(HandshakeError::NotRawSocket(octets[0]).into());
    }
    stream
        .write_all(&HandshakeReply::Refused(error).encode())
        .await?;
    stream.flush().await?;
    stream.close().await?;
    Ok(())
}

/// Accepts WebSocket or RawSocket on one port, telling them apart by the first octet (0x7F
/// starts a RawSocket handshake and never an HTTP request). Over TLS, call it on the
/// decrypted stream.
///
/// A plain-text endpoint that receives a TLS ClientHello fails with an error saying so.
pub async fn accept<S>(mut stream: S, config: &ServerConfig) -> Result<Transport, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut first = [0u8; 1];
    stream
        .read_exact(&mut first)
        .await
        .map_err(|error| handshake_io(error, "before sending anything"))?;
    match first[0] {
        MAGIC => accept_rawsocket(Prefixed::new(MAGIC, stream), config).await,
        0x16 => Err(TransportError::Handshake(
            "the client started a TLS handshake on a plain-text endpoint: connect with ws:// or tcp://, or enable TLS on this endpoint".into(),
        )),
        other => accept_websocket(Prefixed::new(other, stream), config).await,
    }
}

async fn read_handshake<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<[u8; HANDSHAKE_LEN], TransportError> {
    let mut octets = [0u8; HANDSHAKE_LEN];
    stream
        .read_exact(&mut octets)
        .await
        .map_err(|error| handshake_io(error, "during the RawSocket handshake"))?;
    Ok(octets)
}

pub(crate) fn handshake_io(error: std::io::Error, when: &str) -> TransportError {
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        TransportError::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the peer closed the connection {when}"),
        ))
    } else {
        TransportError::Io(error)
    }
}

/// Sends an error reply and closes; failures are irrelevant, the connection is dropped
/// anyway.
async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, error: RawSocketError) {
    let reply = HandshakeReply::Refused(error).encode();
    if stream.write_all(&reply).await.is_ok() && stream.flush().await.is_ok() {
        let _ = stream.close().await;
    }
}

fn serializer_name(id: u8) -> &'static str {
    match id {
        0 => "illegal",
        1 => "JSON",
        2 => "MessagePack",
        3 => "CBOR",
        4 => "UBJSON, not supported by nexus",
        5 => "FlatBuffers, not supported by nexus",
        _ => "reserved",
    }
}
