//! # nexus-transports
//!
//! The transports of nexus, a WAMP v2 implementation: WAMP over WebSocket (with the batched
//! variants) and over RawSocket, on TCP, TLS or Unix sockets. Everything runs on
//! [`futures-io`](futures_io) streams (`AsyncRead + AsyncWrite + Unpin + Send`), so it works
//! on any async runtime; nothing here spawns tasks, reads a clock or sleeps.
//!
//! - Endpoints: [`Endpoint`] parses `ws://`, `wss://`, `tcp://`, `tcps://` and `unix:` URLs.
//! - Router side: [`accept_websocket`], [`accept_rawsocket`], [`accept`] (both on one port)
//!   and [`reject_rawsocket`], configured by [`ServerConfig`].
//! - Client side: [`connect_websocket`], [`connect_websocket_with_config`] and
//!   [`connect_rawsocket`].
//! - TLS: [`tls`] builds rustls configurations from PEM and wraps streams.
//! - The result is a [`Transport`]: a `Stream` of [`Incoming`] and a `Sink` of [`Outgoing`]
//!   in one object, carrying serialized messages (`Bytes`) and keep-alive pings.
//! - The RawSocket wire format, sans-IO, is in [`rawsocket`].
//!
//! Handshakes have no built-in time limit (this crate has no clock): wrap them in your
//! runtime's timeout.
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use nexus_core::Serializer;
//! use nexus_transports::{accept_rawsocket, connect_rawsocket, Incoming, Outgoing, ServerConfig};
//!
//! smol::block_on(async {
//!     let (client_side, router_side) = smol::net::unix::UnixStream::pair().unwrap();
//!     let router = smol::spawn(async move {
//!         let mut transport = accept_rawsocket(router_side, &ServerConfig::default()).await.unwrap();
//!         // Echo one message back.
//!         let Some(Ok(Incoming::Message(bytes))) = transport.next().await else { panic!() };
//!         transport.send(Outgoing::Message(bytes)).await.unwrap();
//!         transport.close().await.unwrap();
//!     });
//!     let mut transport = connect_rawsocket(client_side, Serializer::Json, 1 << 20).await.unwrap();
//!     assert_eq!(transport.serializer(), Serializer::Json);
//!     transport.send(Outgoing::Message(r#"[1,"realm1",{}]"#.into())).await.unwrap();
//!     let echoed = transport.next().await.unwrap().unwrap();
//!     assert_eq!(echoed, Incoming::Message(r#"[1,"realm1",{}]"#.into()));
//!     assert!(transport.next().await.is_none()); // the router closed
//!     router.await;
//! });
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod endpoint;
mod error;
mod io;
mod raw_conn;
pub mod rawsocket;
mod server;
pub mod tls;
mod transport;
mod ws_conn;

pub use async_tungstenite::tungstenite;
pub use client::{
    connect_rawsocket, connect_websocket, connect_websocket_with_config, WebSocketClientConfig,
};
pub use endpoint::{Endpoint, EndpointError};
pub use error::TransportError;
pub use rawsocket::RawSocketError;
pub use server::{
    accept, accept_rawsocket, accept_websocket, accept_websocket_with, reject_rawsocket,
    CookieConfig, ServerConfig,
};
pub use tls::TlsError;
pub use transport::{Incoming, Outgoing, Transport, TransportKind, UpgradeRequest};
