//! # nexus-tokio
//!
//! nexus on tokio: the [`Runtime`] implementation and the whole API of `nexus-driver`.
//!
//! ```no_run
//! use futures::StreamExt;
//! use nexus_tokio::{ClientConfig, Invocation, ReconnectPolicy};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), nexus_tokio::Error> {
//!     let config = ClientConfig::new("realm1").reconnect(ReconnectPolicy::new()); // survives router restarts
//!     let client = nexus_tokio::connect("ws://127.0.0.1:8080/ws", config).await?; // ws, wss, tcp, tcps, unix
//!     let sum = |inv: Invocation| async move { Ok(inv.args::<Vec<i64>>()?.iter().sum::<i64>()) };
//!     let _add = client.register("com.example.add", sum).await?; // dropping it unregisters
//!     let five: i64 = client.call("com.example.add").args((2, 3)).await?.arg(0)?;
//!     let mut news = client.subscribe("com.example.news").await?; // a stream; dropping it unsubscribes
//!     client.publish("com.example.news").arg(five).exclude_me(false).await?;
//!     println!("{}", news.next().await.expect("an event")?.arg::<i64>(0)?);
//!     client.close().await
//! }
//! ```
//!
//! An embedded router on a free port, and a client of it in the same program:
//!
//! ```no_run
//! use nexus_tokio::{ClientConfig, Invocation, RouterBuilder};
//!
//! # async fn run() -> Result<(), nexus_tokio::Error> {
//! let router = nexus_tokio::start(RouterBuilder::new().realm("realm1"));
//! let url = router.listen("ws://127.0.0.1:0/ws", None).await?;
//! let client = nexus_tokio::connect(&url, ClientConfig::new("realm1")).await?;
//! let _echo = client
//!     .register("com.example.echo", |inv: Invocation| async move { Ok(inv.arg::<String>(0)?) })
//!     .await?;
//! let echoed: String = client.call("com.example.echo").arg("hi").await?.arg(0)?;
//! assert_eq!(echoed, "hi");
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio_util::compat::TokioAsyncReadCompatExt;

pub use nexus_driver::nexus_core::{args, kwargs, Dict, Id, Payload, Serializer, Uri, Value};
pub use nexus_driver::*;

/// The tokio [`Runtime`]: spawns on the tokio runtime it was created in.
#[derive(Debug, Clone)]
pub struct Tokio {
    handle: tokio::runtime::Handle,
}

impl Tokio {
    /// The runtime of the current tokio context.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn current() -> Self {
        Tokio {
            handle: tokio::runtime::Handle::current(),
        }
    }

    /// A runtime on the given tokio handle.
    pub fn with_handle(handle: tokio::runtime::Handle) -> Self {
        Tokio { handle }
    }
}

/// The current tokio runtime, as a shared [`Runtime`].
pub fn runtime() -> Arc<dyn Runtime> {
    Arc::new(Tokio::current())
}

/// Connects a client on the current tokio runtime; see [`Client::connect`].
pub async fn connect(url: &str, config: ClientConfig) -> Result<Client, Error> {
    Client::connect(runtime(), url, config).await
}

/// Starts a router on the current tokio runtime; see [`RouterBuilder::start`].
pub fn start(builder: RouterBuilder) -> RouterHandle {
    builder.start(runtime())
}

struct TcpListener(tokio::net::TcpListener);

impl Listener for TcpListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxIo, String)>> {
        async move {
            let (stream, peer) = self.0.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok((Box::new(stream.compat()) as BoxIo, peer.to_string()))
        }
        .boxed()
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.0.local_addr().ok()
    }
}

#[cfg(unix)]
struct UnixListener(tokio::net::UnixListener);

#[cfg(unix)]
impl Listener for UnixListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxIo, String)>> {
        async move {
            let (stream, peer) = self.0.accept().await?;
            let peer = peer
                .as_pathname()
                .map_or_else(|| "unix peer".to_owned(), |p| p.display().to_string());
            Ok((Box::new(stream.compat()) as BoxIo, peer))
        }
        .boxed()
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
}

impl Runtime for Tokio {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        self.handle.spawn(future);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        tokio::time::sleep(duration).boxed()
    }

    fn connect_tcp(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<BoxIo>> {
        async move {
            let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            let _ = stream.set_nodelay(true);
            Ok(Box::new(stream.compat()) as BoxIo)
        }
        .boxed()
    }

    fn connect_unix(&self, path: PathBuf) -> BoxFuture<'static, io::Result<BoxIo>> {
        async move {
            #[cfg(unix)]
            {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok(Box::new(stream.compat()) as BoxIo)
            }
            #[cfg(not(unix))]
            {
                let _ = path;
                Err(nexus_driver::runtime::unix_unsupported())
            }
        }
        .boxed()
    }

    fn listen_tcp(
        &self,
        host: String,
        port: u16,
    ) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        async move {
            let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
            Ok(Box::new(TcpListener(listener)) as Box<dyn Listener>)
        }
        .boxed()
    }

    fn listen_unix(&self, path: PathBuf) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        async move {
            #[cfg(unix)]
            {
                let listener = tokio::net::UnixListener::bind(path)?;
                Ok(Box::new(UnixListener(listener)) as Box<dyn Listener>)
            }
            #[cfg(not(unix))]
            {
                let _ = path;
                Err(nexus_driver::runtime::unix_unsupported())
            }
        }
        .boxed()
    }
}
