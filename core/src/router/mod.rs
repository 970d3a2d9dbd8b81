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

mod actions;
mod auth;
pub mod authz;
mod config;
mod connection;
mod context;
mod dispatch;
mod lifecycle;
mod meta;
mod oversized;
mod pubsub;
mod realm;
mod rpc;
mod shard;
mod uri_index;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

pub use actions::{Action, AuthDecision, AuthRequest, AuthzAction, AuthzRequest, Identity};
pub use auth::cookie::CookieStore;
pub use auth::static_auth::{AuthMethod, CraCredential, StaticAuth, StaticAuthError, StaticUser};
pub use auth::transport::{
    ChannelBinding, ChannelBindingKind, ClientCertificate, ConnectionCookie, CookieGrant,
    CookieIdentity, TransportAuth,
};
pub use authz::{AuthzDecision, Caching, Permission, Roles};
pub use config::{
    AuthMode, AuthzMode, Disclosure, HistoryRule, QueueConfig, RealmConfig, RequestIdPolicy,
    RouterConfig, SlowSubscriberPolicy, TrustLevels,
};
pub use connection::{ConnectionId, ConnectionStats};
pub use shard::{nkey_score, shard_score};

use auth::Authentication;
use authz::Gate;
use connection::{Connections, State};
use context::{Ctx, WallClock};
use realm::{Realm, RealmId};

use crate::features;
use crate::id::{IdGenerator, RegistrationId, SessionId, SubscriptionId};
use crate::message::{Hello, Message, Role, RouterRoles};
use crate::serializer::{DecodeError, Serializer};
use crate::uri::{self, Uri};
use crate::value::Dict;

/// The meta event the router publishes when EVENTs to a slow session are dropped (its
/// outbound queue is full): arguments `[session, {subscription, topic, dropped, total}]`,
/// `dropped` counting this run of drops and `total` the session's drops so far. Published at
/// the first drop of a run and every 1000th after. A nexus extension, in the reserved
/// `wamp.` namespace so that no client can forge it.
pub const EVENTS_DROPPED: &str = "wamp.session.on_events_dropped";

/// Misuse of the router's API by the embedding program (not a peer's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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

/// The WAMP router state machine. See the [module documentation](self).
pub struct Router {
    config: RouterConfig,
    realms: Vec<Realm>,
    realm_index: HashMap<Uri, RealmId>,
    conns: Connections,
    rng: IdGenerator,
    gate: Gate,
    auth: Authentication,
    roles: RouterRoles,
    clock: WallClock,
}

/// The router's parts as one input's handlers get them.
struct Parts<'a> {
    cx: Ctx<'a>,
    realms: &'a mut [Realm],
    gate: &'a mut Gate,
    auth: &'a mut Authentication,
}

impl Router {
    /// A router with `config`, drawing its random IDs from `seed`.
    pub fn new(config: RouterConfig, seed: u64) -> Router {
        let mut router = Router {
            conns: Connections::new(config.queue),
            realms: Vec::new(),
            realm_index: HashMap::new(),
            rng: IdGenerator::from_seed(seed),
            gate: Gate::new(config.authz_cache_capacity),
            auth: Authentication::default(),
            roles: router_roles(),
            clock: WallClock::default(),
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
        let id = RealmId::new(self.realms.len());
        self.realm_index.insert(config.name.clone(), id);
        self.realms.push(Realm::new(id, config));
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
        self.conns.insert(Some(serializer), Some(deadline))
    }

    /// Detaches a connection whose transport is gone: everything its session held is torn
    /// down (a caller's pending calls are dropped, a callee's give their callers
    /// `wamp.error.canceled`), and its handle becomes invalid.
    pub fn detach(&mut self, now: Instant, conn: ConnectionId) {
        self.expect_drained("detach");
        if self.conns.get(conn).is_none() {
            return;
        }
        let Parts { mut cx, realms, .. } = self.parts(now);
        lifecycle::teardown(&mut cx, realms, conn);
        cx.conns.remove(conn);
        lifecycle::reap(&mut cx, realms);
    }

    /// Labels a connection's transport (`ws`, `wss`, `tcp`, `tcps`, `unix`, `local`, or
    /// anything the application uses in [`TrustLevels::by_transport`]). Call it right after
    /// [`attach`](Self::attach); it decides the trust level of the session that joins.
    pub fn set_transport(&mut self, conn: ConnectionId, label: impl Into<String>) {
        if let Some(c) = self.conns.get_mut(conn) {
            c.transport = Some(label.into());
        }
    }

    /// Tells the router the largest message (in bytes, once encoded) the peer on `conn`
    /// accepts, as its transport negotiated it. The router names it when it answers for a
    /// message that was too large (see [`handle_oversized`](Self::handle_oversized)).
    pub fn set_frame_limit(&mut self, conn: ConnectionId, limit: usize) {
        if let Some(c) = self.conns.get_mut(conn) {
            c.frame_limit = Some(limit);
        }
    }

    /// The driver could not send `message` to `conn`: encoded, it is `size` bytes, more
    /// than the peer accepts (`None` for a message the driver has only as encoded bytes:
    /// a fan-out EVENT, encoded once for all its subscribers). The router decides what happens instead, and the peer is not
    /// disconnected for it: an INVOCATION's caller gets ERROR
    /// `wamp.error.payload_size_exceeded` (as if the callee had refused the call), a RESULT
    /// or ERROR becomes that error for the same request, anything else is dropped and counted
    /// ([`ConnectionStats::oversized`]).
    ///
    /// ```
    /// use std::time::Instant;
    /// use nexus_core::message::{CallResult, Message};
    /// use nexus_core::router::{Router, RouterConfig};
    /// use nexus_core::{Payload, RequestId, Serializer, Uri};
    ///
    /// let mut router = Router::new(RouterConfig::with_realm(Uri::parse("realm1").unwrap()), 1);
    /// let now = Instant::now();
    /// let conn = router.attach(now, Serializer::Json);
    /// router.set_frame_limit(conn, 1024);
    /// // (a session joins and calls; its RESULT turns out to be 5000 bytes)
    /// let result = Message::Result(CallResult {
    ///     request: RequestId::MIN,
    ///     details: Default::default(),
    ///     payload: Payload::default(),
    /// });
    /// router.handle_oversized(now, conn, Some(&result), 5000);
    /// ```
    pub fn handle_oversized(
        &mut self,
        now: Instant,
        conn: ConnectionId,
        message: Option<&Message>,
        size: usize,
    ) {
        self.expect_drained("handle_oversized");
        let Parts { mut cx, realms, .. } = self.parts(now);
        oversized::handle(&mut cx, realms, conn, message, size);
        self.reap(now);
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
        self.auth.entropy = Some(auth::static_auth::AuthEntropy::new(seed));
    }

    /// A fresh key for a [`CookieStore`], drawn from the authentication generator (`None`
    /// until [`seed_authentication`](Self::seed_authentication)).
    pub fn cookie_store_key(&mut self) -> Option<[u8; 32]> {
        self.auth.entropy.as_mut().map(|e| e.cookie_key())
    }

    /// Tells the router what wall-clock time `at` is, so the meta API can give creation
    /// times (`created` in `wamp.registration.get`) as ISO 8601 strings. The core reads no
    /// clock: a driver calls this once at start. Without it, `created` is left out.
    pub fn set_wall_clock(&mut self, at: Instant, wall: SystemTime) {
        self.clock = WallClock(Some((at, wall)));
    }

    /// The serializer a connection negotiated.
    pub fn serializer(&self, conn: ConnectionId) -> Option<Serializer> {
        self.conns.get(conn).and_then(|c| c.serializer)
    }

    /// Handles one message from a connection.
    pub fn handle_message(&mut self, now: Instant, conn: ConnectionId, message: Message) {
        self.expect_drained("handle_message");
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        c.stats.messages_in += 1;
        match &mut c.state {
            State::Closed => {}
            State::ShuttingDown => match message {
                Message::Goodbye(_) | Message::Abort(_) => self.conns.doom(conn),
                _ => {}
            },
            State::AwaitingHello => match message {
                Message::Hello(hello) => self.on_hello(now, conn, hello),
                Message::Abort(_) => self.conns.doom(conn),
                other => self.conns.violation(
                    conn,
                    format!(
                        "received {} before HELLO: HELLO must be the first message",
                        other.name()
                    ),
                ),
            },
            State::Authenticating { waiting, realm, .. } => match message {
                Message::Authenticate(auth) if !*waiting => {
                    *waiting = true;
                    let realm = *realm;
                    let Parts { mut cx, realms, .. } = self.parts(now);
                    auth::on_authenticate(&mut cx, &mut realms[realm.index()], conn, auth);
                }
                Message::Abort(_) => self.conns.doom(conn),
                other => self.conns.violation(
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
                        self.conns.violation(
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
        self.expect_drained("handle_decode_error");
        if let Some(c) = self.conns.get(conn) {
            if !matches!(c.state, State::Closed) {
                self.conns
                    .violation(conn, format!("could not decode a message: {error}"));
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
        let c = self.conns.get_mut(conn)?;
        let (message, size) = c.queue.pop_front()?;
        c.queued_bytes -= size;
        Some(message)
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout) has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let calls = self
            .realms
            .iter()
            .filter_map(|r| r.dealer.next_deadline())
            .min();
        match (self.conns.next_deadline(), calls) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles every deadline up to `now` (calling it early is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expect_drained("handle_timeout");
        while let Some(conn) = self.conns.expired(now) {
            lifecycle::deadline_passed(&mut self.conns, conn);
        }
        let Parts { mut cx, realms, .. } = self.parts(now);
        for realm in realms.iter_mut() {
            rpc::handle_timeouts(&mut cx, realm);
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
            .get(conn)
            .ok_or(UsageError::NoSuchConnection(conn))?;
        let realm = match &c.state {
            State::Authenticating {
                realm,
                waiting: true,
                ..
            } => *realm,
            _ => return Err(UsageError::NotAuthenticating(conn)),
        };
        let Parts { mut cx, realms, .. } = self.parts(now);
        auth::resolved(&mut cx, &mut realms[realm.index()], conn, decision);
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
    /// use nexus_core::{RequestId, Uri};
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
    /// router.handle_message(now, conn, Call::new(RequestId::MIN, procedure.clone()).into());
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
    /// router.handle_message(now, conn, Call::new(RequestId::new(2).unwrap(), procedure).into());
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
        let c = self
            .conns
            .pending_authorization(token)
            .ok_or(UsageError::NoSuchAuthorization(token))?;
        let conn = c.id;
        let (Some(pending), Some(realm)) = (c.pending.take(), c.session.as_ref().map(|s| s.realm))
        else {
            return Ok(());
        };
        let Parts {
            mut cx,
            realms,
            gate,
            ..
        } = self.parts(now);
        let realm = &mut realms[realm.index()];
        if let Some((message, grant)) = gate.decided(&mut cx, realm, conn, *pending, decision) {
            dispatch::perform(&mut cx, realm, conn, message, grant);
        }
        // Handle what queued up behind it, until another authorization is pending.
        while let Some(next) = self.next_held(conn) {
            self.dispatch(now, conn, next);
        }
        self.reap(now);
        Ok(())
    }

    /// Ends every session with GOODBYE `wamp.close.system_shutdown` and closes connections
    /// that have none; sessions then get [`RouterConfig::goodbye_timeout`] to reply.
    pub fn shutdown(&mut self, now: Instant) {
        self.expect_drained("shutdown");
        let Parts { mut cx, realms, .. } = self.parts(now);
        for conn in cx.conns.ids() {
            let established = cx
                .conns
                .get(conn)
                .is_some_and(|c| matches!(c.state, State::Established));
            match cx.conns.session(conn).map(|s| s.realm) {
                Some(realm) if established => {
                    meta::session::leave_quietly(cx.conns, conn);
                    let realm = &mut realms[realm.index()];
                    lifecycle::goodbye(&mut cx, realm, conn, uri::close::SYSTEM_SHUTDOWN, None);
                }
                _ => cx.conns.doom(conn),
            }
        }
        self.reap(now);
    }

    /// Ends a session with GOODBYE (`reason`, for example `wamp.close.killed`, and an
    /// optional message). Returns whether the session existed.
    pub fn kill(
        &mut self,
        now: Instant,
        session: SessionId,
        reason: &str,
        message: Option<String>,
    ) -> bool {
        self.expect_drained("kill");
        self.in_session(now, session, |cx, realm, conn| {
            lifecycle::goodbye(cx, realm, conn, reason, message);
            true
        })
    }

    /// Revokes `session`'s part in `registration` (registration revocation): the callee is
    /// told with UNREGISTERED (request 0, the registration and `reason`) if it announced
    /// `registration_revocation`, and calls no longer reach it. Invocations already sent
    /// still complete. Returns whether the session held the registration.
    pub fn revoke_registration(
        &mut self,
        now: Instant,
        session: SessionId,
        registration: RegistrationId,
        reason: Option<&str>,
    ) -> bool {
        self.in_session(now, session, |cx, realm, conn| {
            rpc::revoke(cx, realm, conn, registration, reason)
        })
    }

    /// Revokes `session`'s subscription (subscription revocation): the subscriber is told
    /// with UNSUBSCRIBED (request 0, the subscription and `reason`) if it announced
    /// `subscription_revocation`, and gets no more of its events. Returns whether the
    /// session held the subscription.
    pub fn revoke_subscription(
        &mut self,
        now: Instant,
        session: SessionId,
        subscription: SubscriptionId,
        reason: Option<&str>,
    ) -> bool {
        self.in_session(now, session, |cx, realm, conn| {
            pubsub::revoke(cx, realm, conn, subscription, reason)
        })
    }

    /// Forgets the external authorizer's cached decisions: those of `realm`, or all of them
    /// (`None`). Call it when the authorizer's policy changes; decisions cached with an
    /// expiry also lapse on their own.
    ///
    /// ```
    /// use nexus_core::router::{Router, RouterConfig};
    /// use nexus_core::Uri;
    ///
    /// let realm = Uri::parse("realm1").unwrap();
    /// let mut router = Router::new(RouterConfig::with_realm(realm.clone()), 1);
    /// router.clear_authorization_cache(Some(&realm));
    /// router.clear_authorization_cache(None);
    /// ```
    pub fn clear_authorization_cache(&mut self, realm: Option<&Uri>) {
        match realm {
            None => self.gate.cache.clear(None),
            Some(name) => {
                if let Some(id) = self.realm_index.get(name) {
                    self.gate.cache.clear(Some(id.index()));
                }
            }
        }
    }

    /// The number of established sessions.
    pub fn session_count(&self) -> usize {
        self.conns.sessions.len()
    }

    /// The number of attached connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The session ID of a connection, once established.
    pub fn session_id(&self, conn: ConnectionId) -> Option<SessionId> {
        self.conns.session(conn).map(|s| s.id)
    }

    /// A connection's counters.
    pub fn connection_stats(&self, conn: ConnectionId) -> Option<ConnectionStats> {
        self.conns.get(conn).map(|c| ConnectionStats {
            queued: c.queue.len(),
            queued_bytes: c.queued_bytes,
            ..c.stats
        })
    }

    /// Whether no realm holds any session, subscription, registration or call in flight
    /// (what remains once every session has left).
    pub fn is_idle(&self) -> bool {
        self.conns.sessions.is_empty()
            && !self.conns.any_pending_authorization()
            && self.realms.iter().all(Realm::is_empty)
    }

    // ---- internals -------------------------------------------------------------------------

    fn parts(&mut self, now: Instant) -> Parts<'_> {
        Parts {
            cx: Ctx {
                now,
                conns: &mut self.conns,
                ids: &mut self.rng,
                config: &self.config,
                roles: &self.roles,
                clock: self.clock,
            },
            realms: &mut self.realms,
            gate: &mut self.gate,
            auth: &mut self.auth,
        }
    }

    /// Runs `act` on an established session (in its realm, on its connection), then closes
    /// what it doomed; false when there is no such session.
    fn in_session(
        &mut self,
        now: Instant,
        session: SessionId,
        act: impl FnOnce(&mut Ctx<'_>, &mut Realm, ConnectionId) -> bool,
    ) -> bool {
        let Some(&conn) = self.conns.sessions.get(&session) else {
            return false;
        };
        let Some(realm) = self.conns.session(conn).map(|s| s.realm) else {
            return false;
        };
        let Parts { mut cx, realms, .. } = self.parts(now);
        let done = act(&mut cx, &mut realms[realm.index()], conn);
        self.reap(now);
        done
    }

    /// Catches a driver that feeds an input before draining the outputs of the last one
    /// (see the crate documentation): their order would be lost.
    fn expect_drained(&self, input: &str) {
        debug_assert!(
            self.conns.actions.is_empty(),
            "Router::{input} called with {} actions not yet taken: drain poll_action after every input",
            self.conns.actions.len()
        );
    }

    /// Closes what the last input doomed.
    fn reap(&mut self, now: Instant) {
        let Parts { mut cx, realms, .. } = self.parts(now);
        lifecycle::reap(&mut cx, realms);
    }

    /// A HELLO: into a realm (created on demand if the router does that), then to its
    /// authentication.
    fn on_hello(&mut self, now: Instant, conn: ConnectionId, hello: Box<Hello>) {
        if hello.details.roles.as_ref().is_none_or(|r| r.is_none()) {
            return self.conns.violation(
                conn,
                "HELLO must announce at least one role (publisher, subscriber, caller, callee)"
                    .into(),
            );
        }
        let realm = match self.realm_index.get(&hello.realm) {
            Some(&r) => r,
            None if self.config.auto_create_realms => {
                let _ = self.add_realm(RealmConfig::new(hello.realm.clone()));
                RealmId::new(self.realms.len() - 1)
            }
            None => {
                return self.conns.abort(
                    conn,
                    uri::error::NO_SUCH_REALM,
                    format!("no realm named {} exists on this router", hello.realm),
                )
            }
        };
        let Parts {
            mut cx,
            realms,
            auth,
            ..
        } = self.parts(now);
        auth.on_hello(&mut cx, &mut realms[realm.index()], conn, hello);
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

    /// Handles a message of an established session: to the feature that owns it.
    fn dispatch(&mut self, now: Instant, conn: ConnectionId, message: Message) {
        let Some(realm) = self.conns.session(conn).map(|s| s.realm) else {
            return;
        };
        let policy = self.config.request_ids;
        let Parts {
            mut cx,
            realms,
            gate,
            ..
        } = self.parts(now);
        let realm = &mut realms[realm.index()];
        dispatch::established(&mut cx, realm, gate, policy, conn, message);
    }
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
