//! # nexus-smol
//!
//! nexus on smol: the [`Runtime`] implementation and the whole API of `nexus-driver`.
//! Tasks run on smol's global executor.
//!
//! ```no_run
//! use nexus_smol::{args, ClientConfig, RouterBuilder};
//!
//! smol::block_on(async {
//!     let router = nexus_smol::start(RouterBuilder::new().realm("realm1"));
//!     let url = router.listen("tcp://127.0.0.1:0", None).await?;
//!     let client = nexus_smol::connect(&url, ClientConfig::new("realm1")).await?;
//!     client.publish("com.example.hello").args(args!["world"]).await?;
//!     client.close().await
//! })
//! .unwrap();
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

pub use nexus_driver::nexus_core::{args, kwargs, Dict, Id, Payload, Serializer, Uri, Value};
pub use nexus_driver::*;

/// The smol [`Runtime`]: spawns on smol's global executor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

/// The smol runtime, as a shared [`Runtime`].
pub fn runtime() -> Arc<dyn Runtime> {
    Arc::new(Smol)
}

/// Connects a client on smol; see [`Client::connect`].
pub async fn connect(url: &str, config: ClientConfig) -> Result<Client, Error> {
    Client::connect(runtime(), url, config).await
}

/// Starts a router on smol; see [`RouterBuilder::start`].
pub fn start(builder: RouterBuilder) -> RouterHandle {
    builder.start(runtime())
}

struct TcpListener(smol::net::TcpListener);

impl Listener for TcpListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxIo, String)>> {
        async move {
            let (stream, peer) = self.0.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok((Box::new(stream) as BoxIo, peer.to_string()))
        }
        .boxed()
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.0.local_addr().ok()
    }
}

#[cfg(unix)]
struct UnixListener(smol::net::unix::UnixListener);

#[cfg(unix)]
impl Listener for UnixListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxIo, String)>> {
        async move {
            let (stream, _) = self.0.accept().await?;
            Ok((Box::new(stream) as BoxIo, "unix peer".to_owned()))
        }
        .boxed()
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
}

impl Runtime for Smol {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        smol::spawn(future).detach();
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        smol::Timer::after(duration).map(|_| ()).boxed()
    }

    fn connect_tcp(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<BoxIo>> {
        async move {
            let stream = smol::net::TcpStream::connect((host.as_str(), port)).await?;
            let _ = stream.set_nodelay(true);
            Ok(Box::new(stream) as BoxIo)
        }
        .boxed()
    }

    fn connect_unix(&self, path: PathBuf) -> BoxFuture<'static, io::Result<BoxIo>> {
        async move {
            #[cfg(unix)]
            {
                let stream = smol::net::unix::UnixStream::connect(path).await?;
                Ok(Box::new(stream) as BoxIo)
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
            let listener = smol::net::TcpListener::bind((host.as_str(), port)).await?;
            Ok(Box::new(TcpListener(listener)) as Box<dyn Listener>)
        }
        .boxed()
    }

    fn listen_unix(&self, path: PathBuf) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        async move {
            #[cfg(unix)]
            {
                let listener = smol::net::unix::UnixListener::bind(path)?;
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
