//! The sans-IO router: realms, each with a broker and a dealer, as a pure state machine.
//!
//! The router consumes typed messages from attached connections and produces typed messages
//! for them; it never touches a socket, a clock or a global random generator. A driver:
//!
//! 1. [`attach`](Router::attach)es each new transport connection and gets a [`ConnectionId`];
//! 2. feeds it every decoded message with [`handle_message`](Router::handle_message) (and
//!    undecodable frames with [`handle_decode_error`](Router::handle_decode_error));
//! 3. after every input, drains [`poll_action`](Router::poll_action): `Transmit(conn)` says
//!    that connection has messages to send ([`poll_transmit`](Router::poll_transmit)),
//!    `Close(conn)` that its transport should be closed once they are sent, and
//!    `Authenticate`/`Authorize` are questions for the application, answered with
//!    [`resolve_authentication`](Router::resolve_authentication) and
//!    [`resolve_authorization`](Router::resolve_authorization);
//! 4. calls [`handle_timeout`](Router::handle_timeout) at [`poll_timeout`](Router::poll_timeout);
//! 5. [`detach`](Router::detach)es the connection when its transport is gone.
//!
//! # Extension points
//!
//! - **Authentication**: [`AuthMode::Anonymous`] is built in; [`AuthMode::External`] turns
//!   every HELLO and AUTHENTICATE into an [`Action::Authenticate`] answered by an
//!   [`AuthDecision`] (welcome with an [`Identity`], challenge, or deny), so any method, sync
//!   or async, plugs in without the core doing I/O.
//! - **Authorization**: [`AuthzMode::Roles`] checks every register, call, subscribe and
//!   publish against static per-role [`Permission`]s; [`AuthzMode::External`] asks the
//!   application ([`Action::Authorize`]) while the session's later messages wait, keeping
//!   order, and may let the router cache its answers ([`AuthzDecision`]). See [`authz`].
//! - **Realms**: configured up front, added with [`Router::add_realm`], or created on demand
//!   ([`RouterConfig::auto_create_realms`]).
//! - **Advanced profile** (digest §4): publication options are applied where the broker
//!   builds the shared EVENT and picks its recipients (black/whitelisting, disclosure,
//!   trust levels, retention, history); call options where the dealer picks the callee and
//!   builds the INVOCATION (timeouts, caller disclosure, sharding, progressive invocations,
//!   passthru); the meta API and testaments hook into session welcome and teardown. Each
//!   feature is announced in [`Router::roles`] only once it is implemented.
//!
//! ```
//! use std::time::Instant;
//! use nexus_core::message::{ClientRoles, Hello, Message, Role};
//! use nexus_core::router::{Action, Router, RouterConfig};
//! use nexus_core::{Serializer, Uri};
//!
//! let realm = Uri::parse("realm1").unwrap();
//! let mut router = Router::new(RouterConfig::with_realm(realm.clone()), 7);
//! let now = Instant::now();
//! let conn = router.attach(now, Serializer::Json);
//! let roles = ClientRoles { caller: Some(Role::default()), ..Default::default() };
//! router.handle_message(now, conn, Hello::new(realm, roles).into());
//! assert!(matches!(router.poll_action(), Some(Action::Transmit(c)) if c == conn));
//! let welcome = router.poll_transmit(conn).unwrap();
//! assert!(matches!(*welcome, Message::Welcome(_)));
//! ```

mod auth_digest;
pub mod authz;
mod broker;
mod config;
mod connection;
mod cookie;
mod dealer;
mod meta;
mod pubsub;
mod rpc;
mod session_meta;
mod static_auth;
mod transport_auth;
mod uri_index;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use indexmap::IndexMap;

pub use authz::{AuthzDecision, Caching, Permission, Roles};
pub use broker::nkey_score;
pub use config::{
    AuthMode, AuthzMode, Disclosure, HistoryRule, QueueConfig, RealmConfig, RequestIdPolicy,
    RouterConfig, SlowSubscriberPolicy, TrustLevels,
};

/// The meta event the router publishes when EVENTs to a slow session are dropped (its
/// outbound queue is full): arguments `[session, {subscription, topic, dropped, total}]`,
/// `dropped` counting this run of drops and `total` the session's drops so far. Published at
/// the first drop of a run and every 1000th after. A nexus extension, in the reserved
/// `wamp.` namespace so that no client can forge it.
pub const EVENTS_DROPPED: &str = "wamp.session.on_events_dropped";
pub use connection::{ConnectionId, ConnectionStats};
pub use cookie::CookieStore;
pub use dealer::shard_score;
pub use static_auth::{AuthMethod, CraCredential, StaticAuth, StaticAuthError, StaticUser};
pub use transport_auth::{
    ChannelBinding, ChannelBindingKind, ClientCertificate, ConnectionCookie, CookieGrant,
    CookieIdentity, TransportAuth,
};

use authz::{DecisionCache, Grant, Stage};
use broker::Broker;
use connection::{Class, Connections, Pushed, SessionData, State};
use dealer::{Dealer, InFlight};

use crate::features;
use crate::id::{Id, IdGenerator, RequestIdCounter};
use crate::message::{
    Abort, Authenticate, CallResult, CancelMode, Challenge, ChallengeExtra, Error, ErrorDetails,
    Goodbye, GoodbyeDetails, Hello, Invocation, InvocationDetails, Message, Publish, Published,
    RequestType, ResultDetails, Role, RouterRoles, Subscribed, Unregistered, Unsubscribed, Welcome,
    WelcomeDetails,
};
use crate::serializer::{DecodeError, Serializer};
use crate::uri::{self, MatchPolicy, Uri};
use crate::value::{Dict, Value};

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The connection has messages to send: drain them with
    /// [`Router::poll_transmit`]. Emitted when its queue goes from empty to non-empty.
    Transmit(ConnectionId),
    /// Close the connection's transport once its queued messages are sent, then
    /// [`Router::detach`] it.
    Close(ConnectionId),
    /// Decide how a joining client authenticates; answer with
    /// [`Router::resolve_authentication`].
    Authenticate(AuthRequest),
    /// Decide whether a session may perform an action; answer with
    /// [`Router::resolve_authorization`].
    Authorize(AuthzRequest),
    /// A session authenticated (by a method other than `anonymous` or `cookie`) on a
    /// connection whose WebSocket handshake issued a cookie: remember that the cookie now
    /// stands for this identity (in a [`CookieStore`]), so a later connection presenting
    /// it can authenticate with `cookie`. Nothing to answer.
    RememberCookie(CookieGrant),
}

/// A question about a joining client, for realms with [`AuthMode::External`].
#[derive(Debug, Clone, PartialEq)]
pub struct AuthRequest {
    /// The connection.
    pub connection: ConnectionId,
    /// The realm asked for.
    pub realm: Uri,
    /// The client's HELLO.
    pub hello: Box<Hello>,
    /// The client's answer to the last CHALLENGE (`None` on the HELLO itself).
    pub authenticate: Option<Authenticate>,
    /// What the transport knows about the client (cookie, TLS client certificate, channel
    /// binding), as given to [`Router::set_transport_auth`] (boxed: most connections
    /// have none, and actions stay small).
    pub transport: Box<TransportAuth>,
}

/// The answer to an [`AuthRequest`].
#[derive(Debug, Clone, PartialEq)]
pub enum AuthDecision {
    /// Let the client in with this identity.
    Welcome(Identity),
    /// Send this CHALLENGE; the client's AUTHENTICATE comes back as another request.
    Challenge {
        /// The authentication method.
        method: String,
        /// Its data.
        extra: ChallengeExtra,
    },
    /// Refuse with ABORT.
    Deny {
        /// The ABORT reason, e.g. `wamp.error.authentication_failed`.
        reason: String,
        /// A message for the client (say nothing that helps an attacker).
        message: String,
    },
}

/// Who an authenticated session is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Identity {
    /// The authenticated identity.
    pub authid: String,
    /// The role it gets.
    pub authrole: String,
    /// The method that authenticated it.
    pub authmethod: String,
    /// Who authenticated it.
    pub authprovider: String,
    /// Method-specific data for WELCOME.
    pub authextra: Dict,
}

/// An action that needs authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthzAction {
    /// CALL.
    Call,
    /// REGISTER.
    Register,
    /// PUBLISH.
    Publish,
    /// SUBSCRIBE.
    Subscribe,
}

/// A question about one action, for realms with [`AuthzMode::External`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzRequest {
    /// Identifies the request in [`Router::resolve_authorization`].
    pub token: u64,
    /// The connection.
    pub connection: ConnectionId,
    /// The session.
    pub session: Id,
    /// The realm.
    pub realm: Uri,
    /// The session's authid.
    pub authid: String,
    /// The session's authrole.
    pub authrole: String,
    /// The action.
    pub action: AuthzAction,
    /// The topic or procedure (or pattern).
    pub uri: Uri,
    /// How `uri` matches: the pattern's policy for a SUBSCRIBE or REGISTER of a pattern,
    /// exact otherwise.
    pub match_policy: MatchPolicy,
    /// The meta procedure whose target this question is about, if any: the session called
    /// `wamp.subscription.get_events` (may it subscribe to the subscription's URI?) or
    /// `wamp.session.add_testament` (may it publish to the testament's topic?), and that
    /// CALL is already allowed. `None` when the session itself performs `action`.
    pub via: Option<Uri>,
}

/// Misuse of the router's API by the embedding program (not a peer's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// The connection handle is not attached (or was detached).
    #[error("connection {0:?} is not attached to this router")]
    NoSuchConnection(ConnectionId),
    /// No authentication decision is awaited for the connection.
    #[error("connection {0:?} is not waiting for an authentication decision")]
    NotAuthenticating(ConnectionId),
    /// No authorization request has this token.
    #[error("no authorization request with token {0} is pending")]
    NoSuchAuthorization(u64),
    /// A realm with this name already exists.
    #[error("realm {0} already exists")]
    RealmExists(Uri),
}

/// One realm: its sessions, broker and dealer.
struct Realm {
    config: RealmConfig,
    sessions: IndexMap<Id, ConnectionId>,
    broker: Broker,
    dealer: Dealer,
}

impl Realm {
    fn new(config: RealmConfig) -> Self {
        Realm {
            sessions: IndexMap::new(),
            broker: Broker::new(&config.history),
            dealer: Dealer::default(),
            config,
        }
    }
}

/// The WAMP router state machine. See the [module documentation](self).
pub struct Router {
    config: RouterConfig,
    realms: Vec<Realm>,
    realm_index: HashMap<Uri, usize>,
    conns: Connections,
    rng: IdGenerator,
    sessions: HashMap<Id, ConnectionId>,
    timers: BTreeSet<(Instant, ConnectionId)>,
    authz: HashMap<u64, ConnectionId>,
    /// Decisions of external authorizers that may be reused.
    authz_cache: DecisionCache,
    next_token: u64,
    roles: RouterRoles,
    /// A moment and its wall-clock time, for the meta API's timestamps.
    wall_clock: Option<(Instant, std::time::SystemTime)>,
    /// The CSPRNG of authentication challenges (`None` until seeded).
    auth_entropy: Option<static_auth::AuthEntropy>,
}

impl Router {
    /// A router with `config`, drawing its random IDs from `seed`.
    pub fn new(config: RouterConfig, seed: u64) -> Router {
        let mut router = Router {
            conns: Connections::new(config.queue),
            realms: Vec::new(),
            realm_index: HashMap::new(),
            rng: IdGenerator::from_seed(seed),
            sessions: HashMap::new(),
            timers: BTreeSet::new(),
            authz: HashMap::new(),
            authz_cache: DecisionCache::new(config.authz_cache_capacity),
            next_token: 1,
            roles: router_roles(),
            wall_clock: None,
            auth_entropy: None,
            config,
        };
        for realm in router.config.realms.clone() {
            // Duplicates in the configuration: the first one wins.
            let _ = router.add_realm(realm);
        }
        router
    }

    /// Adds a realm.
    pub fn add_realm(&mut self, config: RealmConfig) -> Result<(), UsageError> {
        if self.realm_index.contains_key(&config.name) {
            return Err(UsageError::RealmExists(config.name));
        }
        self.realm_index
            .insert(config.name.clone(), self.realms.len());
        self.realms.push(Realm::new(config));
        Ok(())
    }

    /// The roles and features the router announces in WELCOME.
    pub fn roles(&self) -> &RouterRoles {
        &self.roles
    }

    /// Attaches a new connection that negotiated `serializer`. The client must send HELLO
    /// within the handshake timeout.
    pub fn attach(&mut self, now: Instant, serializer: Serializer) -> ConnectionId {
        let deadline = now + self.config.handshake_timeout;
        let id = self.conns.insert(Some(serializer), Some(deadline));
        self.timers.insert((deadline, id));
        id
    }

    /// Detaches a connection whose transport is gone: everything its session held is torn
    /// down (a caller's pending calls are dropped, a callee's give their callers
    /// `wamp.error.canceled`), and its handle becomes invalid.
    pub fn detach(&mut self, now: Instant, conn: ConnectionId) {
        if self.conns.get(conn).is_none() {
            return;
        }
        self.teardown(now, conn);
        if let Some(c) = self.conns.remove(conn) {
            if let Some(d) = c.deadline {
                self.timers.remove(&(d, conn));
            }
        }
        self.conns.doomed.retain(|d| *d != conn);
        self.reap(now);
    }

    /// Labels a connection's transport (`ws`, `wss`, `tcp`, `tcps`, `unix`, `local`, or
    /// anything the application uses in [`TrustLevels::by_transport`]). Call it right after
    /// [`attach`](Self::attach); it decides the trust level of the session that joins.
    pub fn set_transport(&mut self, conn: ConnectionId, label: impl Into<String>) {
        if let Some(c) = self.conns.get_mut(conn) {
            c.transport = Some(label.into());
        }
    }

    /// Hands over what the transport knows about the client: its WebSocket cookie, its
    /// verified TLS client certificate, its TLS channel binding. Call it right after
    /// [`attach`](Self::attach), before the HELLO is handled. Realms with
    /// [`AuthMode::Static`] use it for the `cookie` and `tls` methods and for channel
    /// binding; external authenticators get it in [`AuthRequest::transport`].
    ///
    /// ```
    /// use std::time::Instant;
    /// use nexus_core::router::{ClientCertificate, Router, RouterConfig, TransportAuth};
    /// use nexus_core::{Serializer, Uri};
    ///
    /// let mut router = Router::new(RouterConfig::with_realm(Uri::parse("realm1").unwrap()), 1);
    /// let conn = router.attach(Instant::now(), Serializer::Json);
    /// let cert = ClientCertificate {
    ///     subject_cn: Some("device-1".into()),
    ///     dns_names: vec![],
    ///     fingerprint: String::new(),
    /// };
    /// router.set_transport_auth(conn, TransportAuth { client_cert: Some(cert), ..Default::default() });
    /// ```
    pub fn set_transport_auth(&mut self, conn: ConnectionId, auth: TransportAuth) {
        if let Some(c) = self.conns.get_mut(conn) {
            c.auth = auth;
        }
    }

    /// Seeds the cryptographically secure generator of authentication challenges (nonces,
    /// cryptosign challenges, SCRAM server nonces) with 32 bytes of operating-system
    /// entropy. The ID seed given to [`Router::new`] is only 64 bits and predictable
    /// enough for IDs, not for authentication. Until this is called, realms with
    /// [`AuthMode::Static`] refuse every method that needs a CHALLENGE.
    ///
    /// Seeding again replaces the generator (and the key of mock challenges, so the fake
    /// salts of unknown users change: do it once, at start-up).
    pub fn seed_authentication(&mut self, seed: [u8; 32]) {
        self.auth_entropy = Some(static_auth::AuthEntropy::new(seed));
    }

    /// A fresh key for a [`CookieStore`], drawn from the authentication generator (`None`
    /// until [`seed_authentication`](Self::seed_authentication)).
    pub fn cookie_store_key(&mut self) -> Option<[u8; 32]> {
        self.auth_entropy.as_mut().map(|e| e.cookie_key())
    }

    /// The serializer a connection negotiated.
    pub fn serializer(&self, conn: ConnectionId) -> Option<Serializer> {
        self.conns.get(conn).and_then(|c| c.serializer)
    }

    /// Handles one message from a connection.
    pub fn handle_message(&mut self, now: Instant, conn: ConnectionId, message: Message) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        c.stats.messages_in += 1;
        match &mut c.state {
            State::Closed => {}
            State::ShuttingDown => match message {
                Message::Goodbye(_) | Message::Abort(_) => self.close(conn),
                _ => {}
            },
            State::AwaitingHello => match message {
                Message::Hello(hello) => self.on_hello(now, conn, hello),
                Message::Abort(_) => self.close(conn),
                other => self.violation(
                    conn,
                    format!(
                        "received {} before HELLO: HELLO must be the first message",
                        other.name()
                    ),
                ),
            },
            State::Authenticating { waiting, .. } => match message {
                Message::Authenticate(auth) if !*waiting => {
                    *waiting = true;
                    self.on_authenticate(conn, auth);
                }
                Message::Abort(_) => self.close(conn),
                other => self.violation(
                    conn,
                    format!(
                        "received {} while authenticating: expected AUTHENTICATE after CHALLENGE",
                        other.name()
                    ),
                ),
            },
            State::Established => {
                if c.pending.is_some() {
                    if c.inbox.len() >= self.config.max_pending_messages {
                        self.violation(
                            conn,
                            "too many messages while an authorization is pending".into(),
                        );
                    } else {
                        c.inbox.push_back(message);
                    }
                } else {
                    self.dispatch(now, conn, message);
                }
            }
        }
        self.reap(now);
    }

    /// Handles a frame the driver could not decode: a protocol violation.
    pub fn handle_decode_error(&mut self, now: Instant, conn: ConnectionId, error: &DecodeError) {
        if let Some(c) = self.conns.get(conn) {
            if !matches!(c.state, State::Closed) {
                self.violation(conn, format!("could not decode a message: {error}"));
            }
        }
        self.reap(now);
    }

    /// The next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.conns.actions.pop_front()
    }

    /// The next message to send on a connection, in order.
    pub fn poll_transmit(&mut self, conn: ConnectionId) -> Option<Arc<Message>> {
        self.conns.get_mut(conn)?.queue.pop_front()
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout) has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let calls = self
            .realms
            .iter()
            .filter_map(|r| r.dealer.next_deadline())
            .min();
        let conns = self.timers.first().map(|(t, _)| *t);
        match (conns, calls) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles every deadline up to `now` (calling it early is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, conn)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let Some(c) = self.conns.get_mut(conn) else {
                continue;
            };
            if c.deadline != Some(at) {
                continue;
            }
            c.deadline = None;
            match c.state {
                State::AwaitingHello | State::Authenticating { .. } | State::ShuttingDown => {
                    self.close(conn)
                }
                State::Established | State::Closed => {}
            }
        }
        for realm in 0..self.realms.len() {
            for (callee, invocation) in self.realms[realm].dealer.expired(now) {
                self.call_timed_out(realm, callee, invocation);
            }
        }
        self.reap(now);
    }

    /// Answers an [`Action::Authenticate`] request.
    pub fn resolve_authentication(
        &mut self,
        now: Instant,
        conn: ConnectionId,
        decision: AuthDecision,
    ) -> Result<(), UsageError> {
        let c = self
            .conns
            .get_mut(conn)
            .ok_or(UsageError::NoSuchConnection(conn))?;
        let State::Authenticating { realm, waiting, .. } = &mut c.state else {
            return Err(UsageError::NotAuthenticating(conn));
        };
        if !*waiting {
            return Err(UsageError::NotAuthenticating(conn));
        }
        let realm = *realm;
        match decision {
            AuthDecision::Welcome(identity) => {
                let State::Authenticating { hello, .. } =
                    std::mem::replace(&mut c.state, State::AwaitingHello)
                else {
                    unreachable!("checked above")
                };
                self.welcome(conn, realm, &hello, identity, None);
            }
            AuthDecision::Challenge { method, extra } => {
                *waiting = false;
                self.conns.reply(
                    conn,
                    Challenge {
                        auth_method: method,
                        extra,
                    },
                );
            }
            AuthDecision::Deny { reason, message } => self.abort(conn, &reason, message),
        }
        self.reap(now);
        Ok(())
    }

    /// Answers an [`Action::Authorize`] request with a decision: `true` or `false`, or an
    /// [`AuthzDecision`] that may also be cached. When allowed, the action proceeds; when
    /// denied, the session gets ERROR `wamp.error.not_authorized` (for a PUBLISH, only if
    /// it asked for acknowledgement). Messages that arrived meanwhile are then handled in
    /// order.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use nexus_core::message::{Call, ClientRoles, Hello, Message, Role};
    /// use nexus_core::router::{Action, AuthzDecision, AuthzMode, RealmConfig, Router, RouterConfig};
    /// use nexus_core::{Id, Uri};
    ///
    /// let realm = Uri::parse("realm1").unwrap();
    /// let mut config = RealmConfig::new(realm.clone());
    /// config.authz = AuthzMode::External;
    /// let mut router = Router::new(RouterConfig { realms: vec![config], ..Default::default() }, 7);
    /// let now = Instant::now();
    /// let conn = router.attach(now, nexus_core::Serializer::Json);
    /// let roles = ClientRoles { caller: Some(Role::default()), ..Default::default() };
    /// router.handle_message(now, conn, Hello::new(realm, roles).into());
    /// while router.poll_action().is_some() {}
    /// router.poll_transmit(conn); // WELCOME
    ///
    /// let procedure = Uri::parse("com.example.secret").unwrap();
    /// router.handle_message(now, conn, Call::new(Id::MIN, procedure.clone()).into());
    /// let Some(Action::Authorize(request)) = router.poll_action() else { panic!() };
    /// // No, and the same answer for this role and procedure during the next minute.
    /// let no = AuthzDecision::deny().cached_for(Duration::from_secs(60));
    /// router.resolve_authorization(now, request.token, no).unwrap();
    /// let error = router.poll_transmit(conn).unwrap();
    /// assert!(matches!(&*error, Message::Error(e) if e.error == "wamp.error.not_authorized"));
    ///
    /// while router.poll_action().is_some() {}
    ///
    /// // The next identical call is refused at once, without a question.
    /// router.handle_message(now, conn, Call::new(Id::new(2).unwrap(), procedure).into());
    /// assert_eq!(router.poll_action(), Some(Action::Transmit(conn)));
    /// assert_eq!(router.poll_action(), None);
    /// assert!(matches!(&*router.poll_transmit(conn).unwrap(), Message::Error(_)));
    /// ```
    pub fn resolve_authorization(
        &mut self,
        now: Instant,
        token: u64,
        decision: impl Into<AuthzDecision>,
    ) -> Result<(), UsageError> {
        let decision = decision.into();
        let conn = self
            .authz
            .remove(&token)
            .ok_or(UsageError::NoSuchAuthorization(token))?;
        let Some(c) = self.conns.get_mut(conn) else {
            return Ok(());
        };
        let Some(pending) = c.pending.take() else {
            return Ok(());
        };
        self.decided(now, conn, pending, decision);
        // Handle what queued up behind it, until another authorization is pending.
        while let Some(next) = self.next_held(conn) {
            self.dispatch(now, conn, next);
        }
        self.reap(now);
        Ok(())
    }

    /// The next message held behind an authorization, once none is pending.
    fn next_held(&mut self, conn: ConnectionId) -> Option<Message> {
        // A connection doomed by one of the held messages reads nothing more.
        if self.conns.doomed.contains(&conn) {
            return None;
        }
        let c = self.conns.get_mut(conn)?;
        if c.pending.is_some() || !matches!(c.state, State::Established) {
            return None;
        }
        c.inbox.pop_front()
    }

    /// Ends every session with GOODBYE `wamp.close.system_shutdown` and closes connections
    /// that have none; sessions then get [`RouterConfig::goodbye_timeout`] to reply.
    pub fn shutdown(&mut self, now: Instant) {
        for conn in self.conns.ids() {
            let established = matches!(
                self.conns.get(conn).map(|c| &c.state),
                Some(State::Established)
            );
            if established {
                self.leave_quietly(conn);
                self.goodbye(now, conn, uri::close::SYSTEM_SHUTDOWN, None);
            } else {
                self.close(conn);
            }
        }
        self.reap(now);
    }

    /// Ends a session with GOODBYE (`reason`, for example `wamp.close.killed`, and an
    /// optional message). Returns whether the session existed.
    pub fn kill(
        &mut self,
        now: Instant,
        session: Id,
        reason: &str,
        message: Option<String>,
    ) -> bool {
        let Some(&conn) = self.sessions.get(&session) else {
            return false;
        };
        self.goodbye(now, conn, reason, message);
        self.reap(now);
        true
    }

    /// The number of established sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The number of attached connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The session ID of a connection, once established.
    pub fn session_id(&self, conn: ConnectionId) -> Option<Id> {
        self.conns.session(conn).map(|s| s.id)
    }

    /// A connection's counters.
    pub fn connection_stats(&self, conn: ConnectionId) -> Option<ConnectionStats> {
        self.conns.get(conn).map(|c| ConnectionStats {
            queued: c.queue.len(),
            ..c.stats
        })
    }

    /// Whether no realm holds any session, subscription, registration or call in flight
    /// (what remains once every session has left).
    pub fn is_idle(&self) -> bool {
        self.sessions.is_empty()
            && self.authz.is_empty()
            && self
                .realms
                .iter()
                .all(|r| r.sessions.is_empty() && r.broker.is_empty() && r.dealer.is_empty())
    }

    // ---- session lifecycle ---------------------------------------------------------------

    fn on_hello(&mut self, now: Instant, conn: ConnectionId, hello: Box<Hello>) {
        if hello.details.roles.as_ref().is_none_or(|r| r.is_none()) {
            return self.violation(
                conn,
                "HELLO must announce at least one role (publisher, subscriber, caller, callee)"
                    .into(),
            );
        }
        let realm = match self.realm_index.get(&hello.realm) {
            Some(&r) => r,
            None if self.config.auto_create_realms => {
                let _ = self.add_realm(RealmConfig::new(hello.realm.clone()));
                self.realms.len() - 1
            }
            None => {
                return self.abort(
                    conn,
                    uri::error::NO_SUCH_REALM,
                    format!("no realm named {} exists on this router", hello.realm),
                )
            }
        };
        match &self.realms[realm].config.auth {
            AuthMode::Anonymous => {
                let methods = hello.details.authmethods.as_deref().unwrap_or_default();
                if !methods.is_empty() && !methods.iter().any(|m| m == "anonymous") {
                    return self.abort(
                        conn,
                        uri::error::NO_MATCHING_AUTH_METHOD,
                        format!(
                            "realm {} only allows anonymous authentication, which the client did not offer",
                            hello.realm
                        ),
                    );
                }
                let identity = Identity {
                    authid: anonymous_authid(&mut self.rng),
                    authrole: "anonymous".into(),
                    authmethod: "anonymous".into(),
                    authprovider: "static".into(),
                    authextra: Dict::new(),
                };
                self.welcome(conn, realm, &hello, identity, None);
            }
            AuthMode::External => {
                let transport = Box::new(
                    self.conns
                        .get(conn)
                        .map(|c| c.auth.clone())
                        .unwrap_or_default(),
                );
                let request = AuthRequest {
                    connection: conn,
                    realm: hello.realm.clone(),
                    hello: hello.clone(),
                    authenticate: None,
                    transport,
                };
                if let Some(c) = self.conns.get_mut(conn) {
                    c.state = State::Authenticating {
                        realm,
                        hello,
                        waiting: true,
                        pending: None,
                    };
                }
                self.conns.actions.push_back(Action::Authenticate(request));
            }
            AuthMode::Static(auth) => {
                let auth = auth.clone();
                self.on_static_hello(now, conn, realm, hello, &auth);
            }
        }
    }

    /// A HELLO to a realm with the built-in provider: WELCOME, CHALLENGE or ABORT at once.
    fn on_static_hello(
        &mut self,
        now: Instant,
        conn: ConnectionId,
        realm: usize,
        hello: Box<Hello>,
        auth: &StaticAuth,
    ) {
        let session = self.unused_session_id();
        let unix_millis = self
            .wall_clock
            .map(|(at, wall)| {
                let t = if now >= at {
                    wall + (now - at)
                } else {
                    wall - (at - now)
                };
                t.duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            })
            .unwrap_or(0);
        let transport = self
            .conns
            .get(conn)
            .map(|c| c.auth.clone())
            .unwrap_or_default();
        let ctx = static_auth::HelloContext {
            realm: &self.realms[realm].config.name,
            hello: &hello,
            transport: &transport,
            now,
            unix_millis,
            session,
        };
        let outcome = auth.on_hello(&ctx, self.auth_entropy.as_mut());
        self.static_outcome(conn, realm, hello, outcome);
    }

    /// Carries out what the built-in provider decided.
    fn static_outcome(
        &mut self,
        conn: ConnectionId,
        realm: usize,
        hello: Box<Hello>,
        outcome: static_auth::Outcome,
    ) {
        use static_auth::Outcome;
        match outcome {
            Outcome::Welcome(identity) => self.welcome(conn, realm, &hello, identity, None),
            Outcome::Anonymous(role) => {
                let identity = Identity {
                    authid: anonymous_authid(&mut self.rng),
                    authrole: role,
                    authmethod: "anonymous".into(),
                    authprovider: static_auth::PROVIDER.into(),
                    authextra: Dict::new(),
                };
                self.welcome(conn, realm, &hello, identity, None);
            }
            Outcome::Challenge {
                method,
                extra,
                pending,
            } => {
                if let Some(c) = self.conns.get_mut(conn) {
                    c.state = State::Authenticating {
                        realm,
                        hello,
                        waiting: false,
                        pending: Some(pending),
                    };
                }
                self.conns.reply(
                    conn,
                    Challenge {
                        auth_method: method.to_owned(),
                        extra,
                    },
                );
            }
            Outcome::Deny { reason, message } => self.abort(conn, reason, message),
        }
    }

    /// A session ID no session has.
    fn unused_session_id(&mut self) -> Id {
        loop {
            let id = self.rng.next_id();
            if !self.sessions.contains_key(&id) {
                break id;
            }
        }
    }

    fn on_authenticate(&mut self, conn: ConnectionId, authenticate: Authenticate) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let State::Authenticating {
            realm,
            hello,
            pending,
            ..
        } = &mut c.state
        else {
            return;
        };
        let realm = *realm;
        if let Some(pending) = pending.take() {
            // The built-in provider: one AUTHENTICATE per CHALLENGE, decided at once.
            let State::Authenticating { hello, .. } =
                std::mem::replace(&mut c.state, State::AwaitingHello)
            else {
                unreachable!("matched above")
            };
            let session = pending.session;
            match StaticAuth::on_authenticate(pending, &authenticate) {
                static_auth::Outcome::Welcome(identity) => {
                    self.welcome(conn, realm, &hello, identity, session)
                }
                static_auth::Outcome::Deny { reason, message } => self.abort(conn, reason, message),
                // Not produced for an AUTHENTICATE; refuse rather than trust it.
                _ => self.abort(
                    conn,
                    uri::error::AUTHENTICATION_FAILED,
                    "authentication failed".into(),
                ),
            }
            return;
        }
        let request = AuthRequest {
            connection: conn,
            realm: self.realms[realm].config.name.clone(),
            hello: hello.clone(),
            authenticate: Some(authenticate),
            transport: Box::new(c.auth.clone()),
        };
        self.conns.actions.push_back(Action::Authenticate(request));
    }

    /// Establishes the session. `session` is the ID a CHALLENGE announced, if any (it is
    /// used unless another session took it meanwhile).
    fn welcome(
        &mut self,
        conn: ConnectionId,
        realm: usize,
        hello: &Hello,
        identity: Identity,
        session: Option<Id>,
    ) {
        let session = match session {
            Some(id) if !self.sessions.contains_key(&id) => id,
            _ => self.unused_session_id(),
        };
        self.remember_cookie(conn, realm, &identity);
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if let Some(d) = c.deadline.take() {
            self.timers.remove(&(d, conn));
        }
        c.state = State::Established;
        let trust_level = self.realms[realm]
            .config
            .trust
            .level(&identity.authrole, c.transport.as_deref());
        c.session = Some(SessionData {
            id: session,
            realm,
            authid: identity.authid.clone(),
            authrole: identity.authrole.clone(),
            authmethod: identity.authmethod.clone(),
            authprovider: identity.authprovider.clone(),
            trust_level,
            slow_subscriber: self.realms[realm].config.slow_subscriber,
            roles: hello.details.roles.clone().unwrap_or_default(),
            last_request: None,
            invocation_ids: RequestIdCounter::new(),
            subscriptions: Default::default(),
            registrations: Default::default(),
            calls: Default::default(),
            invocations: Default::default(),
            ended_streams: Default::default(),
            testaments: Default::default(),
            quiet: false,
        });
        self.sessions.insert(session, conn);
        self.realms[realm].sessions.insert(session, conn);
        let details = WelcomeDetails {
            roles: Some(self.roles.clone()),
            agent: Some(self.config.agent.clone()),
            authid: Some(identity.authid),
            authrole: Some(identity.authrole),
            authmethod: Some(identity.authmethod),
            authprovider: Some(identity.authprovider),
            authextra: (!identity.authextra.is_empty()).then_some(identity.authextra),
            realm: Some(self.realms[realm].config.name.to_string()),
            ..Default::default()
        };
        self.conns.reply(conn, Welcome { session, details });
        self.session_joined(conn);
    }

    /// Asks the driver to bind the cookie issued on this connection to the identity that
    /// just authenticated. Not for `anonymous` (nothing to remember) nor `cookie` (already
    /// bound), and never for a cookie the client merely presented (session fixation: see
    /// [`ConnectionCookie`]).
    fn remember_cookie(&mut self, conn: ConnectionId, realm: usize, identity: &Identity) {
        if matches!(identity.authmethod.as_str(), "anonymous" | "cookie") {
            return;
        }
        let Some(cookie) = self.conns.get(conn).and_then(|c| c.auth.cookie.as_ref()) else {
            return;
        };
        if !cookie.issued {
            return;
        }
        let grant = CookieGrant {
            value: cookie.value.clone(),
            realm: self.realms[realm].config.name.clone(),
            identity: Identity {
                authextra: Dict::new(),
                ..identity.clone()
            },
            max_age: cookie.max_age,
        };
        self.conns.actions.push_back(Action::RememberCookie(grant));
    }

    /// Sends GOODBYE and waits (up to the goodbye timeout) for the reply; the session is torn
    /// down at once, so it gets no more events or invocations.
    fn goodbye(&mut self, now: Instant, conn: ConnectionId, reason: &str, message: Option<String>) {
        self.conns.reply(
            conn,
            Goodbye {
                details: GoodbyeDetails {
                    message,
                    ..Default::default()
                },
                reason: Uri::new_unchecked(reason),
            },
        );
        self.teardown(now, conn);
        let deadline = now + self.config.goodbye_timeout;
        if let Some(c) = self.conns.get_mut(conn) {
            c.state = State::ShuttingDown;
            if let Some(d) = c.deadline.replace(deadline) {
                self.timers.remove(&(d, conn));
            }
            self.timers.insert((deadline, conn));
        }
    }

    /// ABORT with `reason`, then close.
    fn abort(&mut self, conn: ConnectionId, reason: &str, message: String) {
        self.conns.reply(conn, Abort::new(reason, message));
        self.close(conn);
    }

    /// ABORT `wamp.error.protocol_violation`, then close.
    fn violation(&mut self, conn: ConnectionId, message: String) {
        self.abort(conn, uri::error::PROTOCOL_VIOLATION, message);
    }

    /// Stops reading the connection and closes it once the current input is handled.
    fn close(&mut self, conn: ConnectionId) {
        self.conns.doom(conn);
    }

    /// Closes the doomed connections: tears their sessions down and asks the driver to close.
    fn reap(&mut self, now: Instant) {
        while let Some(conn) = self.conns.doomed.pop() {
            self.teardown(now, conn);
            if let Some(c) = self.conns.get_mut(conn) {
                if !matches!(c.state, State::Closed) {
                    c.state = State::Closed;
                    c.inbox.clear();
                    if let Some(d) = c.deadline.take() {
                        self.timers.remove(&(d, conn));
                    }
                    self.conns.actions.push_back(Action::Close(conn));
                }
            }
        }
    }

    /// Removes everything a session holds.
    fn teardown(&mut self, now: Instant, conn: ConnectionId) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if let Some(p) = c.pending.take() {
            self.authz.remove(&p.token);
        }
        c.inbox.clear();
        let Some(session) = c.session.take() else {
            return;
        };
        let realm_index = session.realm;
        let mut removed = Vec::new();
        let realm = &mut self.realms[realm_index];
        let mut unsubscribed = Vec::new();
        for sub in &session.subscriptions {
            let deleted = realm.broker.unsubscribe(conn, *sub) == Some(true);
            unsubscribed.push((*sub, deleted));
        }
        for reg in &session.registrations {
            removed.push((*reg, realm.dealer.unregister(conn, *reg) == Some(true)));
        }
        // Calls this session made: forget them; interrupt callees that can be interrupted.
        for &(callee, invocation) in session.calls.values() {
            realm.dealer.remove_in_flight(callee, invocation);
            if let Some(s) = self.conns.session_mut(callee) {
                s.invocations.remove(&invocation);
            }
            self.conns.interrupt(
                callee,
                invocation,
                CancelMode::KillNoWait,
                uri::error::CANCELED,
            );
        }
        // Invocations this session was handling: their callers get wamp.error.canceled.
        for &invocation in &session.invocations {
            if let Some(call) = realm.dealer.remove_in_flight(conn, invocation) {
                self.conns.forget_call(&call);
                self.conns.reply(
                    call.caller,
                    Error::new(RequestType::Call, call.call, uri::error::CANCELED)
                        .with_args(vec![Value::from("the callee left before answering")]),
                );
            }
        }
        realm.sessions.shift_remove(&session.id);
        self.sessions.remove(&session.id);
        for (subscription, deleted) in unsubscribed {
            self.subscription_removed(realm_index, session.id, subscription, deleted);
        }
        for (registration, deleted) in removed {
            self.registration_removed(realm_index, session.id, registration, deleted);
        }
        // Last, once the session holds no subscription, so it gets none of them.
        self.session_left(now, conn, session);
    }

    // ---- established sessions ------------------------------------------------------------

    /// Handles a message of an established session.
    fn dispatch(&mut self, now: Instant, conn: ConnectionId, message: Message) {
        match message {
            Message::Goodbye(_) => {
                self.conns
                    .reply(conn, Goodbye::new(uri::close::GOODBYE_AND_OUT));
                self.teardown(now, conn);
                // The transport may carry a new session; it has the handshake timeout to.
                let deadline = now + self.config.handshake_timeout;
                if let Some(c) = self.conns.get_mut(conn) {
                    c.state = State::AwaitingHello;
                    c.deadline = Some(deadline);
                    self.timers.insert((deadline, conn));
                }
            }
            Message::Abort(_) => self.close(conn),
            Message::Publish(m) => {
                if self.check_request(conn, m.request, false) {
                    self.authorize_then(now, conn, Message::Publish(m), Stage::New);
                }
            }
            Message::Subscribe(m) => {
                if self.check_request(conn, m.request, false) {
                    self.authorize_then(now, conn, Message::Subscribe(m), Stage::New);
                }
            }
            Message::Register(m) => {
                if self.check_request(conn, m.request, false) {
                    self.authorize_then(now, conn, Message::Register(m), Stage::New);
                }
            }
            Message::Call(m) => {
                // A chunk of a progressive call invocation already under way?
                let Some(m) = self.call_continuation(conn, m) else {
                    return;
                };
                if self.check_request(conn, m.request, true) {
                    self.authorize_then(now, conn, Message::Call(m), Stage::New);
                }
            }
            Message::Unsubscribe(m) => {
                if self.check_request(conn, m.request, false) {
                    self.on_unsubscribe(conn, m.request, m.subscription);
                }
            }
            Message::Unregister(m) => {
                if self.check_request(conn, m.request, false) {
                    self.on_unregister(conn, m.request, m.registration);
                }
            }
            Message::Yield(m) => self.on_yield(now, conn, m),
            Message::Error(m) if m.request_type == RequestType::Invocation => {
                self.on_callee_error(now, conn, m)
            }
            Message::Error(m) => self.violation(
                conn,
                format!(
                    "a client may send ERROR only for INVOCATION (68), not for request type {}",
                    m.request_type.code()
                ),
            ),
            Message::Cancel(m) => self.on_cancel(conn, m.request, m.options.mode),
            // Autobahn's delivery acknowledgement: not announced, so nothing to do.
            Message::EventReceived(_) => {}
            other @ (Message::Hello(_) | Message::Authenticate(_)) => self.violation(
                conn,
                format!(
                    "received {} after the session was established",
                    other.name()
                ),
            ),
            other => self.violation(
                conn,
                format!(
                    "a client must not send {}; only a router does",
                    other.name()
                ),
            ),
        }
    }

    /// Checks a new request ID against the session's watermark.
    fn check_request(&mut self, conn: ConnectionId, request: Id, is_call: bool) -> bool {
        let policy = self.config.request_ids;
        let Some(s) = self.conns.session_mut(conn) else {
            return false;
        };
        let expected = s.last_request.map_or(Id::MIN, Id::next);
        match policy {
            RequestIdPolicy::Strict if request != expected => {
                let msg = format!(
                    "request IDs must be sequential: expected {expected}, received {request}"
                );
                self.violation(conn, msg);
                false
            }
            RequestIdPolicy::Lenient if is_call && s.calls.contains_key(&request) => {
                let msg =
                    format!("CALL request ID {request} is already in use by a call in flight");
                self.violation(conn, msg);
                false
            }
            _ => {
                s.last_request = Some(request);
                true
            }
        }
    }

    /// Checks a topic or procedure URI; answers ERROR `wamp.error.invalid_uri` (or
    /// `wamp.error.not_authorized` for the reserved `wamp.` namespace) when it is not usable.
    fn usable_uri(
        &mut self,
        conn: ConnectionId,
        kind: RequestType,
        request: Id,
        uri: &Uri,
        policy: MatchPolicy,
        reply: bool,
    ) -> bool {
        if let Err(e) = uri.validate(self.config.uri_rules, policy) {
            if reply {
                self.conns.reply(
                    conn,
                    Error::new(kind, request, uri::error::INVALID_URI)
                        .with_args(vec![Value::from(e.to_string())]),
                );
            }
            return false;
        }
        if kind != RequestType::Subscribe && uri.is_reserved() {
            if reply {
                self.conns.reply(
                    conn,
                    Error::new(kind, request, uri::error::NOT_AUTHORIZED).with_args(vec![
                        Value::from(format!(
                            "URIs starting with \"wamp.\" are reserved for the router ({uri})"
                        )),
                    ]),
                );
            }
            return false;
        }
        true
    }
}

/// Whether a peer's role announced `feature`.
pub(crate) fn supports(role: &Option<Role>, feature: &str) -> bool {
    role.as_ref().is_some_and(|r| r.supports(feature))
}

pub(crate) fn supports_canceling(role: &Option<Role>) -> bool {
    role.as_ref().is_some_and(|r| {
        r.supports(features::CALL_CANCELING) || r.supports(features::CALL_CANCELLING)
    })
}

/// A callee takes progressive results only if it can also be canceled (the spec makes the
/// dealer treat it as not supporting them otherwise).
fn supports_progressive_results(role: &Option<Role>) -> bool {
    supports_canceling(role)
        && role
            .as_ref()
            .is_some_and(|r| r.supports(features::PROGRESSIVE_CALL_RESULTS))
}

/// The roles and features this router announces: only what it implements.
fn router_roles() -> RouterRoles {
    RouterRoles {
        broker: Some(Role::with_features([
            features::PUBLISHER_EXCLUSION,
            features::PATTERN_BASED_SUBSCRIPTION,
            features::PUBLICATION_TRUSTLEVELS,
            features::PAYLOAD_PASSTHRU_MODE,
            features::SUBSCRIBER_BLACKWHITE_LISTING,
            features::PUBLISHER_IDENTIFICATION,
            features::SHARDED_SUBSCRIPTION,
            features::SUBSCRIPTION_REVOCATION,
            features::SUBSCRIPTION_META_API,
            features::EVENT_HISTORY,
            features::EVENT_RETENTION,
            features::SESSION_META_API,
        ])),
        dealer: Some(Role::with_features([
            features::CALL_CANCELING,
            features::CALL_TIMEOUT,
            features::CALLER_IDENTIFICATION,
            features::PROGRESSIVE_CALL_RESULTS,
            features::PROGRESSIVE_CALL_INVOCATIONS,
            features::PATTERN_BASED_REGISTRATION,
            features::SHARED_REGISTRATION,
            features::SHARDED_REGISTRATION,
            features::REGISTRATION_REVOCATION,
            features::REGISTRATION_META_API,
            features::CALL_TRUSTLEVELS,
            features::PAYLOAD_PASSTHRU_MODE,
            features::CALL_REROUTE,
            features::SESSION_META_API,
            features::TESTAMENT_META_API,
        ])),
        extra: Dict::new(),
    }
}

/// Crossbar-style random authid for anonymous sessions, e.g. `5HUC-TTJX-9KYH-7CMP`.
fn anonymous_authid(rng: &mut IdGenerator) -> String {
    const ALPHABET: &[u8] = b"345679ACEFGHJKLMNPQRSTUVWXY";
    let mut n = rng.next_u64();
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(ALPHABET[(n % ALPHABET.len() as u64) as usize] as char);
        n /= ALPHABET.len() as u64;
        if n == 0 {
            n = rng.next_u64();
        }
    }
    out
}
