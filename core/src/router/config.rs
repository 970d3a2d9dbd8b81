//! Router configuration: realms, limits and policies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::auth::static_auth::StaticAuth;
use super::authz::Roles;
use crate::uri::{MatchPolicy, Uri, UriRules};

/// How a realm authenticates joining clients.
#[derive(Debug, Clone, Default)]
pub enum AuthMode {
    /// Everyone joins as `anonymous` (authid: a random string, authrole `anonymous`), without
    /// a CHALLENGE. A client that offers authentication methods but not `anonymous` is
    /// refused with `wamp.error.no_matching_auth_method`, so a client that expects to
    /// authenticate never silently gets an anonymous session.
    #[default]
    Anonymous,
    /// Every HELLO and AUTHENTICATE becomes an [`Action::Authenticate`](super::Action)
    /// request that the embedding application answers with
    /// [`Router::resolve_authentication`](super::Router::resolve_authentication).
    External,
    /// The built-in provider: users and methods configured up front, evaluated by the router
    /// itself without asking the application (see [`StaticAuth`]). Challenges need
    /// randomness: the driver must seed it with
    /// [`Router::seed_authentication`](super::Router::seed_authentication), or every
    /// challenge method fails closed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use nexus_core::router::{AuthMethod, AuthMode, RealmConfig, StaticAuth, StaticUser};
    /// use nexus_core::Uri;
    ///
    /// let users = StaticAuth::new([AuthMethod::Ticket])
    ///     .user("alice", StaticUser::new("admin").ticket("s3cr3t"))
    ///     .unwrap();
    /// let mut realm = RealmConfig::new(Uri::parse("realm1").unwrap());
    /// realm.auth = AuthMode::Static(Arc::new(users));
    /// ```
    Static(Arc<StaticAuth>),
}

/// Two static configurations are equal when they are the same one (secrets are not
/// compared).
impl PartialEq for AuthMode {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (AuthMode::Anonymous, AuthMode::Anonymous)
            | (AuthMode::External, AuthMode::External) => true,
            (AuthMode::Static(a), AuthMode::Static(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for AuthMode {}

/// How a realm authorizes actions (register, call, subscribe, publish). A denied action gets
/// ERROR `wamp.error.not_authorized` (a PUBLISH only when acknowledged); see the
/// [`authz`](super::authz) module documentation for what exactly is checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AuthzMode {
    /// Every action is allowed.
    #[default]
    AllowAll,
    /// Static permissions per authrole, decided by the router at once.
    Roles(Roles),
    /// Every action becomes an [`Action::Authorize`](super::Action) request that the
    /// embedding application answers with
    /// [`Router::resolve_authorization`](super::Router::resolve_authorization). Later
    /// messages of the same session wait for the answer, so ordering is kept. Decisions the
    /// application allows the router to cache ([`AuthzDecision`](super::AuthzDecision))
    /// are applied at once, without asking, while they last.
    External,
}

/// Whether the dealer discloses callers to callees (caller identification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Disclosure {
    /// When the caller asks (`disclose_me`) or the callee does (`disclose_caller`).
    #[default]
    OnRequest,
    /// Never: a CALL with `disclose_me` gets ERROR
    /// `wamp.error.option_disallowed.disclose_me`.
    Never,
    /// Always, whoever asks.
    Always,
}

impl Disclosure {
    /// Whether an identity is disclosed under this policy when `requested` (by the peer's
    /// option, the other party's, or a permission).
    ///
    /// ```
    /// use nexus_core::router::Disclosure;
    /// assert!(Disclosure::OnRequest.discloses(true));
    /// assert!(!Disclosure::Never.discloses(true));
    /// assert!(Disclosure::Always.discloses(false));
    /// ```
    pub fn discloses(self, requested: bool) -> bool {
        match self {
            Disclosure::OnRequest => requested,
            Disclosure::Never => false,
            Disclosure::Always => true,
        }
    }
}

/// How a realm assigns trust levels to its sessions (call and publication trust levels:
/// `trustlevel` in INVOCATION and EVENT details; 0 is the lowest, the meaning of higher
/// levels is the application's).
///
/// A session's level is its authrole's, if listed; else its transport's, if listed (the
/// driver labels each connection with [`Router::set_transport`](super::Router::set_transport):
/// `ws`, `wss`, `tcp`, `tcps`, `unix` or `local`); else `default`.
///
/// ```
/// use nexus_core::router::TrustLevels;
///
/// let mut trust = TrustLevels::default();
/// trust.by_authrole.insert("backend".into(), 5);
/// trust.by_transport.insert("unix".into(), 3);
/// assert_eq!(trust.level("backend", Some("ws")), 5);
/// assert_eq!(trust.level("anonymous", Some("unix")), 3);
/// assert_eq!(trust.level("anonymous", Some("ws")), 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrustLevels {
    /// The level of sessions no rule matches.
    pub default: u64,
    /// Levels by authrole (they win over transport levels).
    pub by_authrole: BTreeMap<String, u64>,
    /// Levels by transport label.
    pub by_transport: BTreeMap<String, u64>,
}

impl TrustLevels {
    /// The level of a session with `authrole` over `transport`.
    pub fn level(&self, authrole: &str, transport: Option<&str>) -> u64 {
        self.by_authrole
            .get(authrole)
            .or_else(|| transport.and_then(|t| self.by_transport.get(t)))
            .copied()
            .unwrap_or(self.default)
    }
}

/// Event history kept for topics matching `uri` under `policy` (digest §4.21): the last
/// `limit` events, in memory, served by `wamp.subscription.get_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRule {
    /// The topic or pattern.
    pub uri: Uri,
    /// How `uri` matches topics.
    pub policy: MatchPolicy,
    /// The most events kept.
    pub limit: usize,
}

/// One realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmConfig {
    /// The realm's name (a URI).
    pub name: Uri,
    /// Authentication.
    pub auth: AuthMode,
    /// Authorization.
    pub authz: AuthzMode,
    /// Caller disclosure policy. With [`AuthzMode::Roles`], a permission's
    /// `disclose_caller` discloses too, unless this is [`Disclosure::Never`].
    pub caller_disclosure: Disclosure,
    /// Trust levels of the realm's sessions.
    pub trust: TrustLevels,
    /// Publisher disclosure policy (publisher identification): `disclose_me` on PUBLISH is
    /// honoured, refused (ERROR `wamp.error.option_disallowed.disclose_me` when the
    /// publication is acknowledged, otherwise it is dropped) or forced. With
    /// [`AuthzMode::Roles`], a permission's `disclose_publisher` discloses too, unless this
    /// is [`Disclosure::Never`].
    pub publisher_disclosure: Disclosure,
    /// Topics whose events are kept for `wamp.subscription.get_events` (none by default).
    pub history: Vec<HistoryRule>,
    /// The most topics with a retained event (event retention); past it the oldest topic's
    /// retained event is forgotten.
    pub max_retained: usize,
    /// What happens to EVENTs for this realm's sessions whose outbound queue is full
    /// (`None`: the router's [`QueueConfig::slow_subscriber`]).
    pub slow_subscriber: Option<SlowSubscriberPolicy>,
}

impl RealmConfig {
    /// An open realm: anonymous authentication, everything allowed.
    pub fn new(name: Uri) -> Self {
        RealmConfig {
            name,
            auth: AuthMode::Anonymous,
            authz: AuthzMode::AllowAll,
            caller_disclosure: Disclosure::OnRequest,
            trust: TrustLevels::default(),
            publisher_disclosure: Disclosure::OnRequest,
            history: Vec::new(),
            max_retained: 10_000,
            slow_subscriber: None,
        }
    }
}

/// How strictly incoming request IDs are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestIdPolicy {
    /// The current spec: each new request ID (CALL, PUBLISH, SUBSCRIBE, UNSUBSCRIBE,
    /// REGISTER, UNREGISTER) is the previous one plus 1, starting at 1 and wrapping after
    /// 2^53. Anything else is a protocol violation.
    #[default]
    Strict,
    /// Older clients send random request IDs: accept any ID, only refusing a CALL that
    /// reuses the ID of one of the session's calls still in flight.
    Lenient,
}

/// What to do with EVENTs for a connection whose outbound queue is full. Either way, the
/// router publishes the meta event `wamp.session.on_events_dropped` (see
/// [`EVENTS_DROPPED`](super::EVENTS_DROPPED)) so operators see slow subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowSubscriberPolicy {
    /// Drop the event and count it.
    #[default]
    Drop,
    /// Close the connection at the first dropped event.
    Disconnect,
    /// Drop events, and close the connection once it has lost this many in all.
    DisconnectAfter(u64),
}

/// Bounds on each connection's outbound queue, in messages and in bytes.
///
/// The router never waits for a peer. Up to `capacity` messages and `capacity_bytes`,
/// everything is queued. Past either, EVENTs follow [`SlowSubscriberPolicy`] and INVOCATIONs
/// are refused (the caller gets ERROR `wamp.error.no_available_callee`), while replies to the
/// peer's own requests (RESULT, ERROR, SUBSCRIBED...) are still queued, since the peer bounds
/// them by what it asks. Past `hard_limit` or `hard_limit_bytes` the peer is not reading at
/// all and the connection is closed. A message is always queued when the queue is empty,
/// however large (the transport's message limit bounds it).
///
/// Bytes are what a message holds in memory (its payload's strings, binaries and
/// containers), counted for each connection it waits for: the count that keeps a peer that
/// never reads from holding the router's memory, whatever the size of its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Messages queued before EVENTs are dropped and INVOCATIONs refused.
    pub capacity: usize,
    /// Messages queued before the connection is closed.
    pub hard_limit: usize,
    /// Bytes queued before EVENTs are dropped and INVOCATIONs refused.
    pub capacity_bytes: usize,
    /// Bytes queued before the connection is closed.
    pub hard_limit_bytes: usize,
    /// What happens to EVENTs past `capacity`.
    pub slow_subscriber: SlowSubscriberPolicy,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 4096,
            hard_limit: 16384,
            capacity_bytes: 16 << 20,
            hard_limit_bytes: 64 << 20,
            slow_subscriber: SlowSubscriberPolicy::Drop,
        }
    }
}

/// The router's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    /// The realms that exist from the start.
    pub realms: Vec<RealmConfig>,
    /// Create a realm when a client asks for one that does not exist (with anonymous
    /// authentication and everything allowed), instead of refusing with
    /// `wamp.error.no_such_realm`.
    pub auto_create_realms: bool,
    /// How long a new connection may take to send HELLO (and to finish authenticating).
    pub handshake_timeout: Duration,
    /// How long the router waits for the reply to a GOODBYE it sent before closing.
    pub goodbye_timeout: Duration,
    /// Request ID checking.
    pub request_ids: RequestIdPolicy,
    /// URI rules for topics and procedures.
    pub uri_rules: UriRules,
    /// Outbound queue bounds.
    pub queue: QueueConfig,
    /// The most messages a session may send while one of its actions awaits authorization.
    pub max_pending_messages: usize,
    /// The most testaments (`wamp.session.add_testament`) a session may hold, both scopes
    /// together; past it, adding one gets ERROR `wamp.error.invalid_argument`. Each is at
    /// most one message's worth of payload, so this bounds what a session can make the
    /// router keep for it.
    pub max_testaments: usize,
    /// The most decisions of external authorizers kept in the router's cache, all realms
    /// together (see [`AuthzDecision`](super::AuthzDecision)); when full, the oldest is
    /// forgotten. 0 disables caching.
    pub authz_cache_capacity: usize,
    /// The `agent` announced in WELCOME.
    pub agent: String,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            realms: Vec::new(),
            auto_create_realms: false,
            handshake_timeout: Duration::from_secs(10),
            goodbye_timeout: Duration::from_secs(5),
            request_ids: RequestIdPolicy::Strict,
            uri_rules: UriRules::Loose,
            queue: QueueConfig::default(),
            max_pending_messages: 1024,
            max_testaments: 64,
            authz_cache_capacity: 4096,
            agent: concat!("nexus-", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl RouterConfig {
    /// A configuration with one open realm.
    ///
    /// ```
    /// use nexus_core::router::RouterConfig;
    /// use nexus_core::Uri;
    ///
    /// let config = RouterConfig::with_realm(Uri::parse("realm1").unwrap());
    /// assert_eq!(config.realms.len(), 1);
    /// ```
    pub fn with_realm(name: Uri) -> Self {
        RouterConfig {
            realms: vec![RealmConfig::new(name)],
            ..Default::default()
        }
    }
}
