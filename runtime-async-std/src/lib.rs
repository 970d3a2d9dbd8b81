//! # nexus-async-std
//!
//! nexus on async-std: the [`Runtime`] implementation and the whole API of `nexus-driver`.
//!
//! async-std is discontinued upstream (RUSTSEC-2025-0052). This crate stays for programs that
//! still run on it; it is a thin layer over the shared driver, so it costs almost nothing to
//! keep. New programs should prefer `nexus-tokio` or `nexus-smol`.
//!
//! ```no_run
//! use nexus_async_std::{args, ClientConfig};
//!
//! async_std::task::block_on(async {
//!     let client = nexus_async_std::connect("ws://127.0.0.1:8080/ws", ClientConfig::new("realm1")).await?;
//!     let sum = client.call("com.example.add").args(args![2, 3]).await?;
//!     println!("{}", sum.args[0]);
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

/// The async-std [`Runtime`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

/// The async-std runtime, as a shared [`Runtime`].
pub fn runtime() -> Arc<dyn Runtime> {
    Arc::new(AsyncStd)
}

/// Connects a client on async-std; see [`Client::connect`].
pub async fn connect(url: &str, config: ClientConfig) -> Result<Client, Error> {
    Client::connect(runtime(), url, config).await
}

/// Starts a router on async-std; see [`RouterBuilder::start`].
pub fn start(builder: RouterBuilder) -> RouterHandle {
    builder.start(runtime())
}

struct TcpListener(async_std::net::TcpListener);

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
struct UnixListener(async_std::os::unix::net::UnixListener);

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

impl Runtime for AsyncStd {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        async_std::task::spawn(future);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        async_std::task::sleep(duration).boxed()
    }

    fn connect_tcp(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<BoxIo>> {
        async move {
            let stream = async_std::net::TcpStream::connect((host.as_str(), port)).await?;
            let _ = stream.set_nodelay(true);
            Ok(Box::new(stream) as BoxIo)
        }
        .boxed()
    }

    fn connect_unix(&self, path: PathBuf) -> BoxFuture<'static, io::Result<BoxIo>> {
        async move {
            #[cfg(unix)]
            {
                let stream = async_std::os::unix::net::UnixStream::connect(path).await?;
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
            let listener = async_std::net::TcpListener::bind((host.as_str(), port)).await?;
            Ok(Box::new(TcpListener(listener)) as Box<dyn Listener>)
        }
        .boxed()
    }

    fn listen_unix(&self, path: PathBuf) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        async move {
            #[cfg(unix)]
            {
                let listener = async_std::os::unix::net::UnixListener::bind(path).await?;
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
