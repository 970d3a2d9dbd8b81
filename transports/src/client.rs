//! The client side: opening WebSocket and RawSocket transports on a connected stream.

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::{header, HeaderName, HeaderValue};
use async_tungstenite::tungstenite::{self};
use futures_io::{AsyncRead, AsyncWrite};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use nexus_core::Serializer;

use crate::io::BoxIo;
use crate::raw_conn::RawConn;
use crate::rawsocket::{HandshakeReply, HandshakeRequest, MaxLength, HANDSHAKE_LEN};
use crate::server::handshake_io;
use crate::transport::Conn;
use crate::ws_conn::{self, WsConn};
use crate::{Endpoint, Transport, TransportError};

/// How a client opens a WebSocket transport.
///
/// ```
/// use nexus_core::Serializer;
/// use nexus_transports::WebSocketClientConfig;
/// let config = WebSocketClientConfig {
///     offers: vec![(Serializer::Cbor, true), (Serializer::Json, false)],
///     headers: vec![("Cookie".into(), "cbtid=abc".into())],
///     ..WebSocketClientConfig::default()
/// };
/// # let _ = config;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketClientConfig {
    /// The subprotocols to offer, most wanted first: a serializer and whether batched.
    /// Default: CBOR, MessagePack, JSON, unbatched.
    pub offers: Vec<(Serializer, bool)>,
    /// The largest message (or batch) to receive, and to send; default 16 MiB.
    pub max_message_size: usize,
    /// Extra HTTP headers for the upgrade request (cookies, authorization, ...).
    pub headers: Vec<(String, String)>,
}

impl Default for WebSocketClientConfig {
    fn default() -> WebSocketClientConfig {
        WebSocketClientConfig {
            offers: Serializer::ALL.iter().map(|s| (*s, false)).collect(),
            max_message_size: 16 * 1024 * 1024,
            headers: Vec::new(),
        }
    }
}

/// Opens a WAMP-over-WebSocket transport on a connected stream (already wrapped in TLS for
/// `wss://`, see [`tls::connect`](crate::tls::connect)), offering the serializers' unbatched
/// subprotocols in the given order.
///
/// The endpoint gives the `Host` header and the path. There is no time limit: wrap the
/// call in your runtime's timeout.
pub async fn connect_websocket<S>(
    stream: S,
    endpoint: &Endpoint,
    serializers: &[Serializer],
    max_message_size: usize,
) -> Result<Transport, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = WebSocketClientConfig {
        offers: serializers.iter().map(|s| (*s, false)).collect(),
        max_message_size,
        headers: Vec::new(),
    };
    connect_websocket_with_config(stream, endpoint, &config).await
}

/// [`connect_websocket`] with batched offers and extra headers.
pub async fn connect_websocket_with_config<S>(
    stream: S,
    endpoint: &Endpoint,
    config: &WebSocketClientConfig,
) -> Result<Transport, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if !endpoint.is_websocket() {
        return Err(TransportError::Handshake(format!(
            "{endpoint} is not a WebSocket endpoint: use a ws:// or wss:// URL, or connect_rawsocket"
        )));
    }
    if config.offers.is_empty() {
        return Err(TransportError::Handshake(
            "no serializer to offer: give at least one".into(),
        ));
    }
    let offered: Vec<&str> = config
        .offers
        .iter()
        .map(|&(serializer, batched)| subprotocol(serializer, batched))
        .collect();
    let mut request = endpoint.to_url().into_client_request().map_err(|error| {
        TransportError::Handshake(format!(
            "cannot build the upgrade request for {endpoint}: {error}"
        ))
    })?;
    let headers = request.headers_mut();
    // Subprotocol names are ASCII tokens, so this is always a valid header value.
    let protocols = HeaderValue::from_str(&offered.join(", "))
        .map_err(|error| TransportError::Handshake(format!("invalid subprotocol list: {error}")))?;
    headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocols);
    for (name, value) in &config.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            TransportError::Handshake(format!("`{name}` is not a valid HTTP header name"))
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            TransportError::Handshake(format!(
                "the value of header `{name}` is not a valid HTTP header value (control characters?)"
            ))
        })?;
        headers.append(name, value);
    }
    let io: BoxIo = Box::new(stream);
    let (ws, response) = async_tungstenite::client_async_with_config(
        request,
        io,
        Some(ws_conn::config(config.max_message_size)),
    )
    .await
    .map_err(|error| upgrade_error(error, &offered))?;
    let chosen = response
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let (serializer, batched) = Serializer::from_subprotocol(chosen)
        .filter(|choice| config.offers.contains(choice))
        .ok_or_else(|| {
            TransportError::Handshake(format!(
                "the server chose subprotocol `{chosen}`, which is not one we offered ({})",
                offered.join(", ")
            ))
        })?;
    let response_headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    Ok(Transport::new(
        serializer,
        batched,
        config.max_message_size,
        config.max_message_size,
        None,
        Conn::WebSocket(Box::new(WsConn::new(
            ws,
            !serializer.is_binary(),
            config.max_message_size,
            false,
        ))),
    )
    .with_response_headers(response_headers))
}

fn subprotocol(serializer: Serializer, batched: bool) -> &'static str {
    if batched {
        serializer.batched_subprotocol()
    } else {
        serializer.subprotocol()
    }
}

fn upgrade_error(error: tungstenite::Error, offered: &[&str]) -> TransportError {
    use tungstenite::error::{ProtocolError, SubProtocolError};
    match error {
        tungstenite::Error::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(|body| String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned())
                .unwrap_or_default();
            TransportError::Handshake(format!(
                "the server refused the WebSocket upgrade with HTTP {}{}{}",
                response.status(),
                if body.is_empty() { "" } else { ": " },
                body.trim()
            ))
        }
        tungstenite::Error::Protocol(ProtocolError::SecWebSocketSubProtocolError(
            SubProtocolError::NoSubProtocol,
        )) => TransportError::Handshake(format!(
            "the server accepted the upgrade without choosing a subprotocol; we offered {} (is it a WAMP router?)",
            offered.join(", ")
        )),
        other => TransportError::from(other),
    }
}

/// Opens a WAMP-over-RawSocket transport on a connected stream (TCP, TLS or Unix socket):
/// sends the handshake asking for `serializer` and announcing `max_message_size` (rounded
/// down to a power of two between 512 bytes and 16 MiB, which is then the enforced receive
/// limit), and checks the router's answer.
///
/// A refusal is [`TransportError::Refused`] with the router's reason. There is no time
/// limit: wrap the call in your runtime's timeout.
pub async fn connect_rawsocket<S>(
    mut stream: S,
    serializer: Serializer,
    max_message_size: usize,
) -> Result<Transport, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ours = MaxLength::at_most(max_message_size);
    stream
        .write_all(&HandshakeRequest::new(serializer, ours).encode())
        .await?;
    stream.flush().await?;
    let mut octets = [0u8; HANDSHAKE_LEN];
    stream
        .read_exact(&mut octets)
        .await
        .map_err(|error| handshake_io(error, "before answering the RawSocket handshake"))?;
    let theirs = match HandshakeReply::parse(octets)? {
        HandshakeReply::Refused(error) => return Err(TransportError::Refused(error)),
        HandshakeReply::Accepted {
            serializer_id,
            max_length,
        } => {
            if serializer_id != serializer.rawsocket_id() {
                return Err(TransportError::Handshake(format!(
                    "the router answered with serializer {serializer_id}, but we asked for {} ({})",
                    serializer.rawsocket_id(),
                    serializer.name()
                )));
            }
            max_length
        }
    };
    Ok(Transport::new(
        serializer,
        false,
        ours.bytes(),
        theirs.bytes(),
        None,
        Conn::RawSocket(Box::new(RawConn::new(
            Box::new(stream),
            ours.bytes(),
            theirs.bytes(),
        ))),
    ))
}
