//! The small interface a runtime crate implements: spawning, timers, and TCP/Unix
//! connect and listen. Everything else is written once, here.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::io::{AsyncRead, AsyncWrite};

/// A byte stream: a TCP or Unix socket as the runtime provides it.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A boxed byte stream.
pub type BoxIo = Box<dyn Io>;

/// A listening socket.
pub trait Listener: Send + 'static {
    /// Accepts the next connection, with a description of the peer (its address).
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxIo, String)>>;
    /// The bound address, for TCP listeners (`None` for Unix sockets).
    fn local_addr(&self) -> Option<SocketAddr>;
}

/// What nexus needs from an async runtime.
///
/// Implemented by `nexus-tokio`, `nexus-smol` and `nexus-async-std`; an application with
/// another runtime can implement it too (a few dozen lines).
pub trait Runtime: Send + Sync + 'static {
    /// Runs a future in the background.
    fn spawn(&self, future: BoxFuture<'static, ()>);
    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
    /// Opens a TCP connection.
    fn connect_tcp(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<BoxIo>>;
    /// Opens a Unix-socket connection.
    fn connect_unix(&self, path: PathBuf) -> BoxFuture<'static, io::Result<BoxIo>>;
    /// Listens on a TCP address (port 0 binds a free port).
    fn listen_tcp(
        &self,
        host: String,
        port: u16,
    ) -> BoxFuture<'static, io::Result<Box<dyn Listener>>>;
    /// Listens on a Unix socket path.
    fn listen_unix(&self, path: PathBuf) -> BoxFuture<'static, io::Result<Box<dyn Listener>>>;
}

/// Runs `future`, failing with [`TimedOut`] when it takes longer than `duration`.
pub async fn timeout<T>(
    runtime: &dyn Runtime,
    duration: Duration,
    future: impl Future<Output = T>,
) -> Result<T, TimedOut> {
    let future = std::pin::pin!(future);
    match futures::future::select(future, runtime.sleep(duration)).await {
        futures::future::Either::Left((out, _)) => Ok(out),
        futures::future::Either::Right(((), _)) => Err(TimedOut(duration)),
    }
}

/// The error a runtime returns for Unix sockets on a system without them.
pub fn unix_unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "Unix sockets need a Unix system",
    )
}

/// A deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {0:?}")]
pub struct TimedOut(pub Duration);

/// Spawns a future on `runtime`.
pub(crate) fn spawn(runtime: &dyn Runtime, future: impl Future<Output = ()> + Send + 'static) {
    runtime.spawn(Box::pin(future) as Pin<Box<dyn Future<Output = ()> + Send>>);
}
