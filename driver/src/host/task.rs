//! A router task: one per realm (and one, the lobby, for connections that have not named
//! an existing realm yet). It owns a sans-IO [`Router`] with that realm alone, takes what
//! connection tasks and handles tell it, and feeds their writers. Realms share no routing
//! state (only the cookie store), so the tasks of different realms run on different cores,
//! with no lock between them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either};
use futures::{SinkExt, StreamExt};
use nexus_core::router::{
    Action, AuthDecision, AuthRequest, AuthzDecision, AuthzRequest, ConnectionId, CookieStore,
    Router, RouterConfig, TransportAuth,
};
use nexus_core::{DecodeError, Message, Serializer, SessionId, Uri};

use super::{Authenticator, Authorizer, HostShared, RouterStats};
use crate::runtime::{self, Runtime};
use crate::wire::{Out, Window};

/// What connection tasks and handles tell the router task.
// Messages move through the channel once; boxing them would add an allocation per message.
#[allow(clippy::large_enum_variant)]
pub(super) enum HostInput {
    Attach {
        serializer: Serializer,
        tx: mpsc::UnboundedSender<Out>,
        window: Arc<Window>,
        local: bool,
        /// The transport's label for trust levels (`ws`, `wss`, `tcp`, `tcps`, `unix`,
        /// `local`).
        transport: &'static str,
        /// The largest message the peer accepts (none for in-process links).
        frame_limit: Option<usize>,
        /// Cookie, client certificate and channel binding.
        auth: Box<TransportAuth>,
        reply: oneshot::Sender<ConnectionId>,
    },
    Message(ConnectionId, Message),
    /// A message the writer could not send: encoded, it is this many bytes, more than the
    /// peer accepts.
    /// (`None`: a fan-out EVENT, which reached the writer encoded.)
    Oversized(ConnectionId, Option<Arc<Message>>, usize),
    DecodeError(ConnectionId, DecodeError),
    Writable(ConnectionId),
    Detach(ConnectionId),
    Auth(ConnectionId, AuthDecision),
    Authz(u64, AuthzDecision),
    Shutdown(oneshot::Sender<()>),
    Kill {
        session: SessionId,
        reason: String,
        message: Option<String>,
        reply: oneshot::Sender<bool>,
    },
    Stats(oneshot::Sender<RouterStats>),
}

/// What every router task of one router shares.
#[derive(Clone)]
pub(super) struct TaskSetup {
    pub(super) authenticator: Option<Authenticator>,
    pub(super) authorizer: Option<Authorizer>,
    pub(super) cookies: Arc<Mutex<CookieStore>>,
    pub(super) runtime: Arc<dyn Runtime>,
}

/// Starts a router task with `config` (the realm it serves, or none for the lobby) and
/// returns its input channel.
pub(super) fn spawn(
    setup: &TaskSetup,
    config: RouterConfig,
    seed: u64,
    realm: Option<Uri>,
    shared: Weak<HostShared>,
) -> mpsc::Sender<HostInput> {
    let router = new_router(config, seed);
    spawn_router(setup, router, realm, shared)
}

/// A router seeded for IDs, the wall clock and (from the operating system) authentication.
pub(super) fn new_router(config: RouterConfig, seed: u64) -> Router {
    let mut router = Router::new(config, seed);
    router.set_wall_clock(Instant::now(), std::time::SystemTime::now());
    // Authentication nonces and cookie values come from the operating system's entropy;
    // without it the router still runs, but refuses every challenge method.
    match os_entropy() {
        Some(seed) => router.seed_authentication(seed),
        None => tracing::error!(
            "no operating-system randomness: authentication methods with a CHALLENGE will be refused"
        ),
    }
    router
}

/// Starts the task that owns `router`.
pub(super) fn spawn_router(
    setup: &TaskSetup,
    router: Router,
    realm: Option<Uri>,
    shared: Weak<HostShared>,
) -> mpsc::Sender<HostInput> {
    let (tx, rx) = mpsc::channel(1024);
    let host = Host {
        router,
        realm,
        links: HashMap::new(),
        cache: HashMap::new(),
        ready: Vec::new(),
        waiters: Vec::new(),
        setup: setup.clone(),
        shared,
    };
    runtime::spawn(&*setup.runtime, host.run(rx));
    tx
}

/// 32 bytes from the operating system's CSPRNG.
fn os_entropy() -> Option<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).ok()?;
    Some(seed)
}

/// The router task's state.
struct Host {
    router: Router,
    /// The realm this task serves (`None`: the lobby).
    realm: Option<Uri>,
    links: HashMap<ConnectionId, Link>,
    /// Fan-out EVENTs encoded once per serializer, until the end of the current flush. The
    /// key is the message's address, so the entry keeps the message alive: a message freed
    /// meanwhile (a `Writable` pump between two flushes can send its last copy) could
    /// otherwise give its address to a newer one, which would go out with the old bytes.
    cache: HashMap<(usize, Serializer), (Arc<Message>, Bytes)>,
    /// Connections with messages to send since the last flush.
    ready: Vec<ConnectionId>,
    waiters: Vec<oneshot::Sender<()>>,
    setup: TaskSetup,
    shared: Weak<HostShared>,
}

struct Link {
    tx: mpsc::UnboundedSender<Out>,
    window: Arc<Window>,
    serializer: Serializer,
    local: bool,
}

impl Host {
    async fn run(mut self, mut rx: mpsc::Receiver<HostInput>) {
        loop {
            let input = match self.router.poll_timeout() {
                Some(at) => {
                    let now = Instant::now();
                    if at <= now {
                        self.router.handle_timeout(now);
                        self.flush();
                        continue;
                    }
                    match future::select(rx.next(), self.setup.runtime.sleep(at - now)).await {
                        Either::Left((input, _)) => input,
                        Either::Right(((), _)) => {
                            self.router.handle_timeout(Instant::now());
                            self.flush();
                            continue;
                        }
                    }
                }
                None => rx.next().await,
            };
            let Some(input) = input else {
                break;
            };
            // The router's actions are taken after every input, as it requires; a burst of
            // waiting inputs is handled before the writers are fed, so each writer is woken
            // once per burst rather than once per message (a fan-out to N subscribers
            // otherwise costs N cross-thread wake-ups per publication).
            self.handle(input);
            self.take_actions();
            for _ in 0..256 {
                match rx.try_recv() {
                    Ok(input) => {
                        self.handle(input);
                        self.take_actions();
                    }
                    Err(_) => break,
                }
            }
            self.flush();
        }
    }

    fn handle(&mut self, input: HostInput) {
        let now = Instant::now();
        match input {
            HostInput::Attach {
                serializer,
                tx,
                window,
                local,
                transport,
                frame_limit,
                auth,
                reply,
            } => {
                let conn = self.router.attach(now, serializer);
                self.router.set_transport(conn, transport);
                if let Some(limit) = frame_limit {
                    self.router.set_frame_limit(conn, limit);
                }
                self.router.set_transport_auth(conn, *auth);
                self.links.insert(
                    conn,
                    Link {
                        tx,
                        window,
                        serializer,
                        local,
                    },
                );
                if reply.send(conn).is_err() {
                    self.router.detach(now, conn);
                    self.links.remove(&conn);
                }
            }
            HostInput::Message(c, m) => self.router.handle_message(now, c, m),
            HostInput::Oversized(c, m, size) => {
                self.router.handle_oversized(now, c, m.as_deref(), size)
            }
            HostInput::DecodeError(c, e) => self.router.handle_decode_error(now, c, &e),
            HostInput::Writable(c) => self.pump(c, false),
            HostInput::Detach(c) => {
                self.router.detach(now, c);
                self.links.remove(&c);
            }
            HostInput::Auth(c, decision) => {
                let _ = self.router.resolve_authentication(now, c, decision);
            }
            HostInput::Authz(token, decision) => {
                let _ = self.router.resolve_authorization(now, token, decision);
            }
            HostInput::Shutdown(reply) => {
                self.router.shutdown(now);
                self.waiters.push(reply);
            }
            HostInput::Kill {
                session,
                reason,
                message,
                reply,
            } => {
                let _ = reply.send(self.router.kill(now, session, &reason, message));
            }
            HostInput::Stats(reply) => {
                let _ = reply.send(RouterStats {
                    sessions: self.router.session_count(),
                    connections: self.router.connection_count(),
                });
            }
        }
    }

    /// Carries out the router's actions, then feeds every writer with something to send.
    fn flush(&mut self) {
        self.take_actions();
        for c in std::mem::take(&mut self.ready) {
            self.pump(c, false);
        }
        self.cache.clear();
        if !self.waiters.is_empty() && self.router.connection_count() == 0 {
            for waiter in self.waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
    }

    /// Carries out the router's actions, except that connections with messages to send are
    /// only noted: [`flush`](Self::flush) feeds their writers.
    fn take_actions(&mut self) {
        while let Some(action) = self.router.poll_action() {
            match action {
                // The router asks once per connection whose queue was empty; a repeat
                // (after a `Writable` pump emptied it) finds the queue drained, at no cost.
                Action::Transmit(c) => self.ready.push(c),
                Action::Close(c) => {
                    // Everything queued goes out, then the writer sees its channel end.
                    self.pump(c, true);
                    self.links.remove(&c);
                }
                Action::Authenticate(request) => self.authenticate(request),
                Action::Authorize(request) => self.authorize(request),
                Action::RememberCookie(grant) => {
                    if let Ok(mut store) = self.setup.cookies.lock() {
                        store.remember(Instant::now(), grant);
                    }
                }
                other => {
                    tracing::error!("the router asked for {other:?}, which this host does not do")
                }
            }
        }
    }

    /// Moves queued messages of connection `c` to its writer, within its window (or all of
    /// them when `all`).
    fn pump(&mut self, c: ConnectionId, all: bool) {
        let Some(link) = self.links.get(&c) else {
            while self.router.poll_transmit(c).is_some() {}
            return;
        };
        loop {
            if all {
                link.window.force_take();
            } else if !link.window.try_take() {
                break;
            }
            let Some(message) = self.router.poll_transmit(c) else {
                link.window.written();
                break;
            };
            let out = if link.local {
                Out::Message(message)
            } else {
                let key = (Arc::as_ptr(&message) as usize, link.serializer);
                match self.cache.get(&key) {
                    Some((_, bytes)) => Out::Encoded(bytes.clone()),
                    // Only EVENTs fan out; other messages may be shared for other
                    // reasons (the dealer keeps an INVOCATION for re-routing) and must stay
                    // messages, so an oversized one can still be answered.
                    None if matches!(*message, Message::Event(_))
                        && Arc::strong_count(&message) > 1 =>
                    {
                        match link.serializer.encode(&message) {
                            Ok(bytes) => {
                                self.cache.insert(key, (message.clone(), bytes.clone()));
                                Out::Encoded(bytes)
                            }
                            Err(e) => {
                                tracing::error!("cannot encode {}: {e}", message.name());
                                link.window.written();
                                continue;
                            }
                        }
                    }
                    None => Out::Message(message),
                }
            };
            if link.tx.unbounded_send(out).is_err() {
                link.window.written();
            }
        }
    }

    fn authenticate(&mut self, request: AuthRequest) {
        let conn = request.connection;
        let Some(authenticator) = self.setup.authenticator.clone() else {
            tracing::warn!(
                "realm {} uses external authentication but no authenticator is set",
                request.realm
            );
            let decision = AuthDecision::Deny {
                reason: nexus_core::uri::error::AUTHENTICATION_FAILED.into(),
                message: "authentication failed".into(),
            };
            let _ = self
                .router
                .resolve_authentication(Instant::now(), conn, decision);
            return;
        };
        self.answer_later(async move { HostInput::Auth(conn, authenticator(request).await) });
    }

    fn authorize(&mut self, request: AuthzRequest) {
        let token = request.token;
        let Some(authorizer) = self.setup.authorizer.clone() else {
            tracing::warn!(
                "realm {} uses external authorization but no authorizer is set",
                request.realm
            );
            let _ = self
                .router
                .resolve_authorization(Instant::now(), token, false);
            return;
        };
        self.answer_later(async move { HostInput::Authz(token, authorizer(request).await) });
    }

    /// Runs the application's answer to one of the router's questions on its own task, and
    /// hands it to the router task when it comes.
    fn answer_later(&self, answer: impl Future<Output = HostInput> + Send + 'static) {
        let Some(mut tx) = self
            .shared
            .upgrade()
            .and_then(|shared| shared.directory.sender(self.realm.as_ref()))
        else {
            return;
        };
        runtime::spawn(&*self.setup.runtime, async move {
            let _ = tx.send(answer.await).await;
        });
    }
}
