//! The router host: each realm has a task of its own that owns a sans-IO
//! [`Router`](nexus_core::router::Router) for it ([`task`]), so realms run in parallel;
//! every connection has its own task that reads, decodes, encodes and writes, so
//! serialization runs in parallel too, while each realm's routing state has a single owner
//! and needs no locks. [`directory`] says which task serves which realm.

mod directory;
mod task;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::oneshot;
use futures::future::{self, BoxFuture, Either};
use futures::{FutureExt, SinkExt, StreamExt};
use nexus_core::router::{
    AuthDecision, AuthRequest, AuthzDecision, AuthzRequest, ConnectionCookie, CookieStore,
    RealmConfig, RouterConfig, TransportAuth,
};
use nexus_core::{Limits, Message, Serializer, SessionId, Uri};
use nexus_transports::{
    CookieConfig, Endpoint, Incoming, Outgoing, ServerConfig, Transport, UpgradeRequest,
};

use crate::error::Error;
use crate::runtime::{self, BoxIo, Listener, Runtime};
use crate::wire::{decode_routed_frame, Out};
use directory::{Attachment, Directory, Home};
use task::{HostInput, TaskSetup};

/// The most messages a connection's writer sends before it flushes: a burst goes out in few
/// write calls, and a long one still reaches the socket in pieces.
const WRITE_BATCH: usize = 256;

/// Decides how a client authenticates, for realms with external authentication.
pub type Authenticator = Arc<dyn Fn(AuthRequest) -> BoxFuture<'static, AuthDecision> + Send + Sync>;

/// Decides whether an action is allowed, for realms with external authorization. The answer
/// may let the router cache it ([`AuthzDecision::cached`]); a plain `bool` converts with
/// `.into()`.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use futures::FutureExt;
/// use nexus_core::router::{AuthzAction, AuthzDecision};
/// use nexus_driver::Authorizer;
///
/// // Everyone may subscribe; only the role "backend" may do anything else. The answer
/// // depends on nothing but the role and the action, so the router may reuse it.
/// let authorizer: Authorizer = Arc::new(|request| {
///     let allowed = request.action == AuthzAction::Subscribe || request.authrole == "backend";
///     async move { AuthzDecision::from(allowed).cached_for(Duration::from_secs(60)) }.boxed()
/// });
/// ```
pub type Authorizer = Arc<dyn Fn(AuthzRequest) -> BoxFuture<'static, AuthzDecision> + Send + Sync>;

/// Builds and starts a router.
///
/// ```no_run
/// # async fn run(runtime: std::sync::Arc<dyn nexus_driver::Runtime>) -> Result<(), nexus_driver::Error> {
/// use nexus_driver::RouterBuilder;
///
/// let router = RouterBuilder::new().realm("realm1").start(runtime);
/// let url = router.listen("ws://127.0.0.1:0/ws", None).await?;
/// println!("listening on {url}");
/// # Ok(()) }
/// ```
pub struct RouterBuilder {
    config: RouterConfig,
    seed: Option<u64>,
    limits: Limits,
    serializers: Vec<Serializer>,
    keepalive: Option<Duration>,
    authenticator: Option<Authenticator>,
    authorizer: Option<Authorizer>,
    cookie_capacity: usize,
}

impl Default for RouterBuilder {
    fn default() -> Self {
        RouterBuilder::new()
    }
}

impl RouterBuilder {
    /// A router with no realm yet and the default configuration.
    pub fn new() -> Self {
        RouterBuilder::with_config(RouterConfig::default())
    }

    /// A router with `config`.
    pub fn with_config(config: RouterConfig) -> Self {
        RouterBuilder {
            config,
            seed: None,
            limits: Limits::default(),
            serializers: Serializer::ALL.to_vec(),
            keepalive: Some(Duration::from_secs(30)),
            authenticator: None,
            authorizer: None,
            cookie_capacity: 100_000,
        }
    }

    /// The most cookies bound to identities at once (cookie authentication; default
    /// 100 000). Past it, the binding closest to expiry is forgotten.
    pub fn cookie_capacity(mut self, capacity: usize) -> Self {
        self.cookie_capacity = capacity;
        self
    }

    /// Adds an open realm (anonymous, everything allowed). An invalid name is ignored with
    /// a warning; use [`RouterBuilder::realm_config`] to handle it.
    pub fn realm(mut self, name: &str) -> Self {
        match Uri::parse(name) {
            Ok(uri) => self.config.realms.push(RealmConfig::new(uri)),
            Err(e) => tracing::warn!("ignoring realm {name:?}: {e}"),
        }
        self
    }

    /// Adds a realm.
    pub fn realm_config(mut self, realm: RealmConfig) -> Self {
        self.config.realms.push(realm);
        self
    }

    /// Seeds the router's random IDs (default: from the clock and the process).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Decoding limits for every connection (the message size is also the transports'
    /// maximum).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The serializers offered to clients, in preference order.
    pub fn serializers(mut self, serializers: Vec<Serializer>) -> Self {
        self.serializers = serializers;
        self
    }

    /// Pings idle connections at this interval and drops those that stay silent for two
    /// intervals (default 30 s; `None` disables it).
    pub fn keepalive(mut self, interval: Option<Duration>) -> Self {
        self.keepalive = interval;
        self
    }

    /// The authenticator for realms with [`AuthMode::External`](nexus_core::router::AuthMode).
    pub fn authenticator(mut self, authenticator: Authenticator) -> Self {
        self.authenticator = Some(authenticator);
        self
    }

    /// The authorizer for realms with [`AuthzMode::External`](nexus_core::router::AuthzMode).
    pub fn authorizer(mut self, authorizer: Authorizer) -> Self {
        self.authorizer = Some(authorizer);
        self
    }

    /// Starts the router's tasks on `runtime`: one per realm, and one for connections that
    /// have not joined a realm yet.
    pub fn start(self, runtime: Arc<dyn Runtime>) -> RouterHandle {
        let seed = self.seed.unwrap_or_else(entropy);
        let handshake_timeout = self.config.handshake_timeout;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let shared = Arc::new_cyclic(|weak| {
            // The cookie store's key comes from the lobby's router, made first.
            let cookies = Arc::new(Mutex::new(CookieStore::new(self.cookie_capacity, [0; 32])));
            let setup = TaskSetup {
                authenticator: self.authenticator,
                authorizer: self.authorizer,
                cookies: cookies.clone(),
                runtime: runtime.clone(),
            };
            let (directory, cookie_key) = Directory::start(self.config, seed, setup, weak);
            // Without a secret key, cookie values would be predictable: none are issued then.
            if let (Some(key), Ok(mut store)) = (cookie_key, cookies.lock()) {
                *store = CookieStore::new(self.cookie_capacity, key);
            }
            HostShared {
                directory,
                runtime: runtime.clone(),
                limits: self.limits,
                server: ServerConfig {
                    serializers: self.serializers.clone(),
                    max_message_size: self.limits.max_message_size,
                    allow_batched: true,
                    ..ServerConfig::default()
                },
                handshake_timeout,
                keepalive: self.keepalive,
                stop: stop_rx.map(|_| ()).boxed().shared(),
                stop_tx: Mutex::new(Some(stop_tx)),
                stopping: AtomicBool::new(false),
                listeners_closed: Mutex::new(Vec::new()),
                cookies,
                issues_cookies: cookie_key.is_some(),
            }
        });
        RouterHandle { shared }
    }
}

/// Seed material for IDs when none is given: the clock and the address of a local.
fn entropy() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let local = 0u8;
    nanos ^ ((&local as *const u8 as u64).rotate_left(32)) ^ u64::from(std::process::id())
}

/// Counters of a running router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouterStats {
    /// Established sessions.
    pub sessions: usize,
    /// Attached connections.
    pub connections: usize,
}

pub(crate) struct HostShared {
    /// The router's tasks.
    directory: Directory,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) limits: Limits,
    server: ServerConfig,
    handshake_timeout: Duration,
    keepalive: Option<Duration>,
    /// Completes when the router shuts down: the listeners stop accepting.
    stop: future::Shared<BoxFuture<'static, ()>>,
    stop_tx: Mutex<Option<oneshot::Sender<()>>>,
    stopping: AtomicBool,
    /// Each listener's socket is closed when its sender is dropped: shutdown waits for them,
    /// so the addresses are free again when it returns.
    listeners_closed: Mutex<Vec<oneshot::Receiver<()>>>,
    /// Cookie authentication: which cookie stands for whom. Shared by the WebSocket
    /// handshakes (is the presented cookie known?) and the router tasks (bind a cookie).
    cookies: Arc<Mutex<CookieStore>>,
    /// Whether the cookie store has a secret key (from the operating system's entropy):
    /// without one, cookie values would be predictable, and none are issued.
    issues_cookies: bool,
}

/// How a listener accepts connections (see [`RouterHandle::listen_with`]).
#[derive(Debug, Clone, Default)]
pub struct ListenOptions {
    /// The TLS configuration, for `wss://` and `tcps://` URLs. When it asks for client
    /// certificates, the verified certificate's identity is handed to the router for `tls`
    /// authentication; under TLS 1.3 the `tls-exporter` channel binding is too.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// WebSocket cookie tracking: a client without a known cookie gets a fresh one in the
    /// handshake response, and a session that authenticates on that connection binds it
    /// to its identity for `cookie` authentication later.
    pub cookie: Option<CookieConfig>,
}

/// A handle to a running router: listen on more URLs, connect in-process clients, shut down.
/// Cheap to clone.
#[derive(Clone)]
pub struct RouterHandle {
    pub(crate) shared: Arc<HostShared>,
}

impl RouterHandle {
    /// Listens on `url` (`ws://`, `wss://`, `tcp://`, `tcps://`, `unix://`) and returns the
    /// URL actually bound (port 0 is replaced by the real port). TLS URLs need `tls`.
    pub async fn listen(
        &self,
        url: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<String, Error> {
        self.listen_with(url, ListenOptions { tls, cookie: None })
            .await
    }

    /// [`listen`](Self::listen) with more options: TLS (a rustls configuration that asks
    /// for client certificates enables `tls` authentication, see
    /// [`tls::server_config_with_client_auth`](nexus_transports::tls::server_config_with_client_auth)),
    /// and WebSocket cookie tracking for `cookie` authentication.
    ///
    /// ```no_run
    /// # async fn run(router: nexus_driver::RouterHandle) -> Result<(), nexus_driver::Error> {
    /// use nexus_driver::ListenOptions;
    /// use nexus_driver::nexus_transports::CookieConfig;
    ///
    /// let options = ListenOptions { tls: None, cookie: Some(CookieConfig::default()) };
    /// router.listen_with("ws://127.0.0.1:8080/ws", options).await?;
    /// # Ok(()) }
    /// ```
    pub async fn listen_with(&self, url: &str, options: ListenOptions) -> Result<String, Error> {
        let ListenOptions { tls, cookie } = options;
        let endpoint = Endpoint::parse(url).map_err(Error::Url)?;
        if endpoint.is_tls() && tls.is_none() {
            return Err(Error::Config {
                what: "ListenOptions::tls",
                problem: format!("{url} needs a TLS certificate and key"),
            });
        }
        let rt = &self.shared.runtime;
        let (listener, bound) = match &endpoint {
            Endpoint::WebSocket { host, port, .. } | Endpoint::RawSocket { host, port, .. } => {
                let listener = rt
                    .listen_tcp(host.clone(), *port)
                    .await
                    .map_err(|e| Error::listen(url, e))?;
                let port = listener.local_addr().map_or(*port, |a| a.port());
                (listener, endpoint.with_port(port))
            }
            Endpoint::Unix { path } => {
                remove_stale_socket(path);
                let listener = rt
                    .listen_unix(path.clone())
                    .await
                    .map_err(|e| Error::listen(url, e))?;
                (listener, endpoint.clone())
            }
        };
        let bound_url = bound.to_url();
        tracing::info!("listening on {bound_url}");
        if cookie.is_some() && !endpoint.is_websocket() {
            return Err(Error::Config {
                what: "ListenOptions::cookie",
                problem: format!(
                    "{url}: cookie tracking needs a WebSocket listener (ws:// or wss://)"
                ),
            });
        }
        let listener_options = Arc::new(ListenOptions { tls, cookie });
        let (closed, listener_closed) = oneshot::channel();
        if let Ok(mut list) = self.shared.listeners_closed.lock() {
            list.push(listener_closed);
        }
        runtime::spawn(
            &**rt,
            accept_loop(
                self.shared.clone(),
                listener,
                endpoint,
                listener_options,
                closed,
            ),
        );
        Ok(bound_url)
    }

    /// Ends every session with GOODBYE `wamp.close.system_shutdown`, stops accepting
    /// connections, and completes when every connection is closed (sessions that do not
    /// answer are closed after the router's GOODBYE timeout).
    pub async fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(stop) = self.shared.stop_tx.lock().ok().and_then(|mut s| s.take()) {
            let _ = stop.send(());
        }
        let listeners = self
            .shared
            .listeners_closed
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default();
        for closed in listeners {
            let _ = closed.await;
        }
        let mut done = Vec::new();
        for mut task in self.shared.directory.all() {
            let (tx, rx) = oneshot::channel();
            if task.send(HostInput::Shutdown(tx)).await.is_ok() {
                done.push(rx);
            }
        }
        for rx in done {
            let _ = rx.await;
        }
    }

    /// Ends a session with GOODBYE `reason` (for example `wamp.close.killed`).
    pub async fn kill(&self, session: SessionId, reason: &str, message: Option<String>) -> bool {
        let mut killed = false;
        // Session IDs are the router's, not a realm's: the task that has it ends it.
        for mut task in self.shared.directory.all() {
            let (reply, rx) = oneshot::channel();
            let input = HostInput::Kill {
                session,
                reason: reason.to_owned(),
                message: message.clone(),
                reply,
            };
            if task.send(input).await.is_ok() {
                killed |= rx.await.unwrap_or(false);
            }
        }
        killed
    }

    /// The router's counters, over all its realms.
    pub async fn stats(&self) -> RouterStats {
        let mut total = RouterStats::default();
        for mut task in self.shared.directory.all() {
            let (reply, rx) = oneshot::channel();
            if task.send(HostInput::Stats(reply)).await.is_ok() {
                let stats = rx.await.unwrap_or_default();
                total.sessions += stats.sessions;
                total.connections += stats.connections;
            }
        }
        total
    }

    /// The runtime the router runs on.
    pub fn runtime(&self) -> Arc<dyn Runtime> {
        self.shared.runtime.clone()
    }

    /// Attaches an in-process peer: messages cross without a socket or serialization.
    pub(crate) async fn attach_local(&self) -> Result<LocalLink, Error> {
        let attachment = Attachment {
            // Nothing is encoded for a local link; the serializer only labels it.
            serializer: Serializer::Cbor,
            local: true,
            transport: "local",
            frame_limit: None,
            auth: TransportAuth::default(),
        };
        let home = Home::attach(self.shared.clone(), attachment)
            .await
            .map_err(|_| Error::Closed)?;
        Ok(LocalLink {
            home: Box::new(home),
            limits: self.shared.limits,
        })
    }
}

/// An in-process connection to a router.
pub(crate) struct LocalLink {
    // Boxed: a client's futures carry its link, and the stack of their polls with it.
    home: Box<Home>,
    limits: Limits,
}

impl LocalLink {
    /// Sends a message to the router.
    pub(crate) async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.home.message(message).await.map_err(|_| Error::Closed)
    }

    /// The next item from the router; `None` once it closed the link.
    pub(crate) async fn next(&mut self) -> Option<Out> {
        self.home.rx.next().await
    }

    /// Turns a received item into a message, and releases its window slot.
    pub(crate) async fn received(&mut self, out: Out) -> Result<Message, Error> {
        self.home.sending(&out);
        let message = out
            .into_message(Serializer::Cbor, &self.limits)
            .map_err(Error::Decode)?;
        if self.home.window.written() {
            let conn = self.home.conn();
            let _ = self.home.tell(HostInput::Writable(conn)).await;
        }
        Ok(message)
    }

    /// Detaches from the router.
    pub(crate) async fn close(&mut self) {
        self.home.detach().await;
    }
}

fn remove_stale_socket(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.file_type().is_socket() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

async fn accept_loop(
    shared: Arc<HostShared>,
    mut listener: Box<dyn Listener>,
    endpoint: Endpoint,
    options: Arc<ListenOptions>,
    closed: oneshot::Sender<()>,
) {
    let stop = shared.stop.clone();
    futures::pin_mut!(stop);
    loop {
        let accepted = {
            let accept = listener.accept();
            match future::select(accept, &mut stop).await {
                Either::Left((accepted, _)) => accepted,
                Either::Right(((), _)) => break,
            }
        };
        match accepted {
            Ok((io, peer)) => {
                if shared.stopping.load(Ordering::SeqCst) {
                    break;
                }
                tracing::debug!("connection from {peer} on {}", endpoint.to_url());
                let task = serve(shared.clone(), io, peer, endpoint.clone(), options.clone());
                runtime::spawn(&*shared.runtime, task);
            }
            Err(e) => {
                tracing::warn!("accept on {} failed: {e}", endpoint.to_url());
                // Out of file descriptors and the like: back off instead of spinning.
                shared.runtime.sleep(Duration::from_millis(100)).await;
            }
        }
    }
    // The socket first, then the word that it is closed.
    drop(listener);
    drop(closed);
}

/// Serves one accepted connection: TLS, the transport handshake, then messages both ways.
async fn serve(
    shared: Arc<HostShared>,
    io: BoxIo,
    peer: String,
    endpoint: Endpoint,
    options: Arc<ListenOptions>,
) {
    let rt = shared.runtime.clone();
    let mut auth = TransportAuth::default();
    // Boxed: the TLS and WebSocket handshakes' state would otherwise stay part of this task
    // for the connection's whole life, which for an idle session is most of its memory.
    let handshake = Box::pin(async {
        let io: BoxIo = match (&options.tls, endpoint.is_tls()) {
            (Some(config), true) => {
                let stream = nexus_transports::tls::accept(io, config.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                auth.client_cert = nexus_transports::tls::peer_certificate(&stream);
                auth.channel_binding = nexus_transports::tls::channel_binding(&stream);
                Box::new(stream)
            }
            _ => io,
        };
        match endpoint {
            Endpoint::WebSocket { tls, .. } => match &options.cookie {
                Some(cookies) => {
                    let respond = |request: &UpgradeRequest| {
                        let (cookie, headers) = track_cookie(&shared, cookies, tls, request);
                        auth.cookie = cookie;
                        headers
                    };
                    nexus_transports::accept_websocket_with(io, &shared.server, respond)
                        .await
                        .map_err(|e| e.to_string())
                }
                None => nexus_transports::accept_websocket(io, &shared.server)
                    .await
                    .map_err(|e| e.to_string()),
            },
            Endpoint::RawSocket { .. } | Endpoint::Unix { .. } => {
                nexus_transports::accept_rawsocket(io, &shared.server)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    });
    let transport = match runtime::timeout(&*rt, shared.handshake_timeout, handshake).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            tracing::debug!("handshake with {peer} failed: {e}");
            return;
        }
        Err(e) => {
            tracing::debug!("handshake with {peer}: {e}");
            return;
        }
    };
    if let Some(cert) = &auth.client_cert {
        tracing::debug!(
            "{peer}: TLS client certificate {:?} (SHA-256 {})",
            cert.authid(),
            cert.fingerprint
        );
    }
    let serializer = transport.serializer();
    let attachment = Attachment {
        serializer,
        local: false,
        transport: match &endpoint {
            Endpoint::WebSocket { tls: false, .. } => "ws",
            Endpoint::WebSocket { tls: true, .. } => "wss",
            Endpoint::RawSocket { tls: false, .. } => "tcp",
            Endpoint::RawSocket { tls: true, .. } => "tcps",
            Endpoint::Unix { .. } => "unix",
        },
        frame_limit: Some(transport.send_limit()),
        auth,
    };
    let Ok(mut home) = Home::attach(shared.clone(), attachment).await else {
        return;
    };
    tracing::debug!(
        "{peer}: {serializer} session transport attached as {:?}",
        home.conn()
    );
    let end = pump_connection(&shared, &mut home, transport).await;
    tracing::debug!("{peer}: connection ended: {end}");
    home.detach().await;
}

/// Cookie tracking in a WebSocket handshake: a presented cookie that is bound to an identity
/// is kept; otherwise the client gets a fresh one (never adopting a value the client chose:
/// see [`ConnectionCookie`]). Returns the connection's cookie and the response headers.
fn track_cookie(
    shared: &HostShared,
    config: &CookieConfig,
    tls: bool,
    request: &UpgradeRequest,
) -> (Option<ConnectionCookie>, Vec<(String, String)>) {
    if !shared.issues_cookies {
        return (None, Vec::new());
    }
    let presented = request.cookie(&config.name);
    let Ok(mut store) = shared.cookies.lock() else {
        return (None, Vec::new());
    };
    let cookie = store.admit(Instant::now(), presented, config.max_age);
    let headers = if cookie.issued {
        vec![(
            "Set-Cookie".to_owned(),
            config.set_cookie(&cookie.value, tls),
        )]
    } else {
        Vec::new()
    };
    (Some(cookie), headers)
}

/// Reads, decodes and forwards incoming messages; encodes and writes outgoing ones; pings
/// when idle. Returns why the connection ended.
async fn pump_connection(shared: &HostShared, home: &mut Home, mut transport: Transport) -> String {
    let serializer = transport.serializer();
    let batched = transport.is_batched();
    let rt = &shared.runtime;
    let interval = shared.keepalive;
    let mut last_heard = Instant::now();
    let mut tick = interval.map(|i| rt.sleep(i));
    loop {
        enum Event {
            Read(Option<Result<Incoming, nexus_transports::TransportError>>),
            Write(Option<Out>),
            Tick,
        }
        let event = {
            let read = transport.next();
            let write = home.rx.next();
            let both = future::select(read, write);
            match &mut tick {
                Some(t) => match future::select(both, t).await {
                    Either::Left((Either::Left((r, _)), _)) => Event::Read(r),
                    Either::Left((Either::Right((w, _)), _)) => Event::Write(w),
                    Either::Right(((), _)) => Event::Tick,
                },
                None => match both.await {
                    Either::Left((r, _)) => Event::Read(r),
                    Either::Right((w, _)) => Event::Write(w),
                },
            }
        };
        match event {
            Event::Read(None) => return "closed by the peer".into(),
            Event::Read(Some(Err(e))) => return format!("transport error: {e}"),
            Event::Read(Some(Ok(Incoming::Pong(_)))) => last_heard = Instant::now(),
            Event::Read(Some(Ok(Incoming::Message(frame)))) => {
                last_heard = Instant::now();
                match decode_routed_frame(serializer, batched, &frame, &shared.limits) {
                    Ok(messages) => {
                        for m in messages {
                            if home.message(m).await.is_err() {
                                return "router stopped".into();
                            }
                        }
                    }
                    Err(e) => {
                        // The router answers with ABORT and closes us.
                        let _ = home.tell(HostInput::DecodeError(home.conn(), e)).await;
                    }
                }
            }
            Event::Write(Some(mut out)) => {
                // Everything queued while the last write was under way goes out with one
                // flush (one write call on RawSocket and WebSocket alike), up to a batch.
                for sent in 1.. {
                    home.sending(&out);
                    let conn = home.conn();
                    match out.into_frame(serializer, batched) {
                        Err(e) => tracing::error!("cannot encode a message for {conn:?}: {e}"),
                        Ok((frame, message)) if frame.len() > transport.send_limit() => {
                            // The router decides what happens instead.
                            let oversized = HostInput::Oversized(conn, message, frame.len());
                            if home.tell(oversized).await.is_err() {
                                return "router stopped".into();
                            }
                        }
                        Ok((frame, _)) => {
                            if let Err(e) = transport.feed(Outgoing::Message(frame)).await {
                                return format!("write failed: {e}");
                            }
                        }
                    }
                    if home.window.written() && home.tell(HostInput::Writable(conn)).await.is_err()
                    {
                        return "router stopped".into();
                    }
                    if sent == WRITE_BATCH {
                        break;
                    }
                    match home.rx.try_recv() {
                        Ok(more) => out = more,
                        Err(_) => break,
                    }
                }
                if let Err(e) = transport.flush().await {
                    return format!("write failed: {e}");
                }
            }
            Event::Write(None) => {
                let _ = transport.close().await;
                return "closed by the router".into();
            }
            Event::Tick => {
                let interval = interval.unwrap_or(Duration::from_secs(30));
                if last_heard.elapsed() > interval * 2 {
                    let _ = transport.close().await;
                    return format!("no traffic for {:?}: keep-alive failed", interval * 2);
                }
                if last_heard.elapsed() >= interval {
                    if let Err(e) = transport
                        .send(Outgoing::Ping(Bytes::from_static(b"nexus")))
                        .await
                    {
                        return format!("ping failed: {e}");
                    }
                }
                tick = Some(rt.sleep(interval));
            }
        }
    }
}
