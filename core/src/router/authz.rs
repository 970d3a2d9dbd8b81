//! Authorization: the static role-based authorizer ([`Roles`]), the decisions of an external
//! authorizer and their cache ([`AuthzDecision`]), and the one path every REGISTER, CALL,
//! SUBSCRIBE and PUBLISH takes through them.
//!
//! # What is checked
//!
//! Each of those messages is one action on one URI: its procedure or topic, with the match
//! policy it asks for (exact for CALL and PUBLISH). A REGISTER or SUBSCRIBE of a pattern is
//! checked against the pattern URI itself, as the authorizer's one question; the EVENTs and
//! INVOCATIONs it later brings are not checked again, so a role allowed to subscribe to
//! `com.app.` (prefix) gets every event under it, including topics that a more specific
//! permission keeps it from subscribing to one by one.
//!
//! Two meta procedures act on something else than their own URI, and their target is
//! checked as well, once the CALL itself is allowed: `wamp.subscription.get_events` needs
//! the right to subscribe to the subscription's URI (with its match policy: digest §4.21
//! says the caller must be authorized), and `wamp.session.add_testament` the right to
//! publish to the testament's topic. The other meta procedures (listing, looking up,
//! killing, revoking) are governed by the right to call them, like any procedure. Meta
//! events (`wamp.session.on_join`...) reach those who could subscribe to them.
//!
//! # Denials
//!
//! A denied action gets ERROR `wamp.error.not_authorized` whose argument says which action on
//! which URI was refused for which authrole; a denied PUBLISH gets it only when it asked for
//! acknowledgement, otherwise it is dropped silently, as the spec wants for every
//! unacknowledged publication.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use super::config::AuthzMode;
use super::connection::{ConnectionId, Connections, PendingAuthz};
use super::context::Ctx;
use super::realm::Realm;
use super::{Action, AuthzAction, AuthzRequest};
use crate::id::SubscriptionId;
use crate::message::{Error, Message, Payload, RequestType};
use crate::uri::{self, MatchPolicy, Uri, UriRules};
use crate::value::Value;

/// What a permission grants, for one URI, exact or pattern.
///
/// A role's permission that applies to a URI is chosen the way the dealer chooses the
/// registration for a call (digest §4.8): the exact permission for the URI; else the prefix
/// permission with the longest prefix; else the wildcard permission whose literal components
/// match best. Only that one permission counts, so a specific permission can take away
/// what a broader one grants:
///
/// ```
/// use nexus_core::router::{AuthzAction, Permission, Roles};
/// use nexus_core::MatchPolicy;
///
/// let roles = Roles::new().with_role(
///     "frontend",
///     [
///         Permission::prefix("com.app.").allow(AuthzAction::Call),
///         Permission::exact("com.app.admin.reset"), // allows nothing
///     ],
/// );
/// let exact = MatchPolicy::Exact;
/// assert!(roles.allows("frontend", AuthzAction::Call, "com.app.echo", exact));
/// assert!(!roles.allows("frontend", AuthzAction::Call, "com.app.admin.reset", exact));
/// assert!(!roles.allows("frontend", AuthzAction::Register, "com.app.echo", exact));
/// ```
///
/// An empty prefix (`Permission::prefix("")`) matches every URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// The URI, or the pattern under `policy`.
    pub uri: Uri,
    /// How `uri` matches.
    pub policy: MatchPolicy,
    /// CALL is allowed.
    pub call: bool,
    /// REGISTER is allowed.
    pub register: bool,
    /// PUBLISH is allowed.
    pub publish: bool,
    /// SUBSCRIBE is allowed.
    pub subscribe: bool,
    /// The role's calls to these URIs disclose the caller to the callee, unless the realm
    /// never discloses callers (see [`RealmConfig::caller_disclosure`](super::RealmConfig::caller_disclosure)).
    pub disclose_caller: bool,
    /// The role's publications to these URIs disclose the publisher to subscribers, unless
    /// the realm never discloses publishers (see [`RealmConfig::publisher_disclosure`](super::RealmConfig::publisher_disclosure)).
    pub disclose_publisher: bool,
}

impl Permission {
    /// A permission for `uri` under `policy` that allows nothing yet.
    pub fn new(uri: impl Into<String>, policy: MatchPolicy) -> Permission {
        Permission {
            uri: Uri::new_unchecked(uri),
            policy,
            call: false,
            register: false,
            publish: false,
            subscribe: false,
            disclose_caller: false,
            disclose_publisher: false,
        }
    }

    /// A permission for exactly `uri`.
    pub fn exact(uri: impl Into<String>) -> Permission {
        Permission::new(uri, MatchPolicy::Exact)
    }

    /// A permission for every URI that starts with `prefix` (the empty prefix: all URIs).
    pub fn prefix(prefix: impl Into<String>) -> Permission {
        Permission::new(prefix, MatchPolicy::Prefix)
    }

    /// A permission for the URIs that match the wildcard `pattern` (`com..get`).
    pub fn wildcard(pattern: impl Into<String>) -> Permission {
        Permission::new(pattern, MatchPolicy::Wildcard)
    }

    /// Also allows `action`.
    pub fn allow(mut self, action: AuthzAction) -> Permission {
        *self.flag(action) = true;
        self
    }

    /// Also allows every action: call, register, publish and subscribe.
    pub fn allow_all(self) -> Permission {
        self.allow(AuthzAction::Call)
            .allow(AuthzAction::Register)
            .allow(AuthzAction::Publish)
            .allow(AuthzAction::Subscribe)
    }

    /// Discloses the role's calls to these URIs ([`disclose_caller`](Self::disclose_caller)).
    pub fn disclosing_caller(mut self) -> Permission {
        self.disclose_caller = true;
        self
    }

    /// Discloses the role's publications to these URIs
    /// ([`disclose_publisher`](Self::disclose_publisher)).
    pub fn disclosing_publisher(mut self) -> Permission {
        self.disclose_publisher = true;
        self
    }

    /// Whether the permission allows `action`.
    pub fn allows(&self, action: AuthzAction) -> bool {
        match action {
            AuthzAction::Call => self.call,
            AuthzAction::Register => self.register,
            AuthzAction::Publish => self.publish,
            AuthzAction::Subscribe => self.subscribe,
        }
    }

    /// Whether the permission forces disclosure of the one who performs `action` (only calls
    /// and publications disclose anyone).
    pub fn discloses(&self, action: AuthzAction) -> bool {
        match action {
            AuthzAction::Call => self.disclose_caller,
            AuthzAction::Publish => self.disclose_publisher,
            AuthzAction::Register | AuthzAction::Subscribe => false,
        }
    }

    /// Checks the URI under `rules` for the permission's match policy. The empty prefix is
    /// valid (it matches every URI).
    ///
    /// ```
    /// use nexus_core::router::Permission;
    /// use nexus_core::UriRules;
    ///
    /// assert!(Permission::prefix("").validate(UriRules::Strict).is_ok());
    /// assert!(Permission::wildcard("com..get").validate(UriRules::Strict).is_ok());
    /// assert!(Permission::exact("com..get").validate(UriRules::Strict).is_err());
    /// ```
    pub fn validate(&self, rules: UriRules) -> Result<(), crate::UriError> {
        if self.policy == MatchPolicy::Prefix && self.uri.as_str().is_empty() {
            return Ok(());
        }
        self.uri.validate(rules, self.policy)
    }

    fn flag(&mut self, action: AuthzAction) -> &mut bool {
        match action {
            AuthzAction::Call => &mut self.call,
            AuthzAction::Register => &mut self.register,
            AuthzAction::Publish => &mut self.publish,
            AuthzAction::Subscribe => &mut self.subscribe,
        }
    }

    /// Whether the permission covers a request for `uri` under `policy`: every URI the
    /// request could reach must be one the permission matches. An exact URI is covered as
    /// routing would match it; a prefix pattern only by a prefix permission it starts with;
    /// a wildcard pattern by a prefix permission it starts with or a wildcard permission
    /// whose literal components it shares. (An exact permission for `com.app` must not let
    /// a session subscribe to the prefix `com.app`, which also reaches `com.app.secret`.)
    fn covers(&self, uri: &str, policy: MatchPolicy) -> bool {
        match (self.policy, policy) {
            (MatchPolicy::Exact, MatchPolicy::Exact) => self.uri.as_str() == uri,
            (MatchPolicy::Exact, _) => false,
            (MatchPolicy::Prefix, _) => uri.starts_with(self.uri.as_str()),
            (MatchPolicy::Wildcard, MatchPolicy::Prefix) => false,
            // The pattern's empty components only match the permission's empty ones.
            (MatchPolicy::Wildcard, _) => MatchPolicy::Wildcard.matches(self.uri.as_str(), uri),
        }
    }
}

/// One role's permissions, indexed for lookup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct RolePermissions {
    permissions: Vec<Permission>,
    /// Exact permissions by URI (the first one listed for a URI wins).
    exact: HashMap<Uri, usize>,
}

impl RolePermissions {
    fn new(permissions: Vec<Permission>) -> Self {
        let mut exact = HashMap::new();
        for (i, p) in permissions.iter().enumerate() {
            if p.policy == MatchPolicy::Exact {
                exact.entry(p.uri.clone()).or_insert(i);
            }
        }
        RolePermissions { permissions, exact }
    }

    /// The permission that applies to `uri` under `policy`, with the dealer's precedence.
    /// On a tie (the same pattern listed twice), the first one listed wins.
    fn find(&self, uri: &str, policy: MatchPolicy) -> Option<&Permission> {
        if policy == MatchPolicy::Exact {
            if let Some(&i) = self.exact.get(uri) {
                return self.permissions.get(i);
            }
        }
        let mut best: Option<&Permission> = None;
        for p in self
            .permissions
            .iter()
            .filter(|p| p.policy == MatchPolicy::Prefix)
        {
            if p.covers(uri, policy)
                && best.is_none_or(|b| {
                    uri::prefix_precedence(p.uri.as_str()) > uri::prefix_precedence(b.uri.as_str())
                })
            {
                best = Some(p);
            }
        }
        if best.is_some() {
            return best;
        }
        for p in self
            .permissions
            .iter()
            .filter(|p| p.policy == MatchPolicy::Wildcard)
        {
            if p.covers(uri, policy)
                && best.is_none_or(|b| {
                    uri::wildcard_precedence(p.uri.as_str(), b.uri.as_str()).is_gt()
                })
            {
                best = Some(p);
            }
        }
        best
    }
}

/// Static role-based authorization of one realm ([`AuthzMode::Roles`]): each authrole's
/// [`Permission`]s. The router decides at once, without asking the application.
///
/// A session whose authrole is not listed may do nothing; neither may a session for a URI
/// none of its role's permissions matches. Disclosure flags add to the realm's disclosure
/// policies: with `on_request` (the default), a call or publication is disclosed when the
/// client asks (`disclose_me`), when the callee asks (`disclose_caller` on REGISTER), or when
/// the permission that allowed it says so; `always` discloses everything anyway; `never`
/// wins over the permission, as the realm-wide promise it is.
///
/// ```
/// use nexus_core::router::{AuthzAction, AuthzMode, Permission, RealmConfig, Roles};
/// use nexus_core::{MatchPolicy, Uri};
///
/// let roles = Roles::new()
///     .with_role("backend", [Permission::prefix("com.app.").allow_all()])
///     .with_role(
///         "anonymous",
///         [
///             Permission::prefix("com.app.public.")
///                 .allow(AuthzAction::Call)
///                 .allow(AuthzAction::Subscribe),
///             // Its calls there are disclosed to the callee.
///             Permission::exact("com.app.public.report")
///                 .allow(AuthzAction::Call)
///                 .disclosing_caller(),
///         ],
///     );
/// let exact = MatchPolicy::Exact;
/// assert!(roles.allows("anonymous", AuthzAction::Call, "com.app.public.time", exact));
/// assert!(!roles.allows("anonymous", AuthzAction::Publish, "com.app.public.time", exact));
/// // A pattern is checked as the pattern itself.
/// assert!(roles.allows("anonymous", AuthzAction::Subscribe, "com.app.public.", MatchPolicy::Prefix));
/// assert!(!roles.allows("anonymous", AuthzAction::Subscribe, "com.app.", MatchPolicy::Prefix));
/// assert!(!roles.allows("guest", AuthzAction::Call, "com.app.public.time", exact));
/// assert!(roles.permission("anonymous", "com.app.public.report", exact).unwrap().disclose_caller);
///
/// let mut realm = RealmConfig::new(Uri::parse("realm1").unwrap());
/// realm.authz = AuthzMode::Roles(roles);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Roles {
    roles: BTreeMap<String, RolePermissions>,
}

impl Roles {
    /// No roles: everything is denied.
    pub fn new() -> Roles {
        Roles::default()
    }

    /// Adds (or replaces) the role `name` with `permissions`.
    pub fn with_role(
        mut self,
        name: impl Into<String>,
        permissions: impl IntoIterator<Item = Permission>,
    ) -> Roles {
        self.insert(name, permissions);
        self
    }

    /// Adds (or replaces) the role `name` with `permissions`.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        permissions: impl IntoIterator<Item = Permission>,
    ) {
        let permissions = RolePermissions::new(permissions.into_iter().collect());
        self.roles.insert(name.into(), permissions);
    }

    /// The roles' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }

    /// A role's permissions, as given.
    pub fn permissions(&self, authrole: &str) -> Option<&[Permission]> {
        self.roles.get(authrole).map(|r| r.permissions.as_slice())
    }

    /// The permission of `authrole` that applies to a request for `uri` under `policy`
    /// (the match policy the client asked for: exact for calls and publications).
    pub fn permission(
        &self,
        authrole: &str,
        uri: &str,
        policy: MatchPolicy,
    ) -> Option<&Permission> {
        self.roles.get(authrole)?.find(uri, policy)
    }

    /// Whether `authrole` may perform `action` on `uri` under `policy`.
    pub fn allows(
        &self,
        authrole: &str,
        action: AuthzAction,
        uri: &str,
        policy: MatchPolicy,
    ) -> bool {
        self.permission(authrole, uri, policy)
            .is_some_and(|p| p.allows(action))
    }
}

/// How long the router may reuse an external authorizer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Caching {
    /// Not at all: the next identical action is asked about again.
    #[default]
    No,
    /// Until the cache is cleared ([`Router::clear_authorization_cache`](super::Router::clear_authorization_cache)) or the entry is
    /// evicted to make room ([`RouterConfig::authz_cache_capacity`](super::RouterConfig::authz_cache_capacity)).
    Forever,
    /// For this long, measured on the `now` the router is given.
    For(Duration),
}

/// The answer to an [`AuthzRequest`]: allowed or not, and whether the router may reuse it.
///
/// A cached decision applies to every later action with the same realm, authrole, action,
/// URI and match policy, whatever the session: cache only decisions that depend on nothing
/// else (not on the authid, the session, or the time of day beyond the expiry). While one
/// applies, the router decides at once, without an [`Action::Authorize`].
///
/// ```
/// use std::time::Duration;
/// use nexus_core::router::{AuthzDecision, Caching};
///
/// let yes: AuthzDecision = true.into();
/// assert_eq!(yes, AuthzDecision::allow());
/// assert_eq!(yes.cache, Caching::No);
/// let d = AuthzDecision::deny().cached_for(Duration::from_secs(60));
/// assert!(!d.allowed);
/// assert_eq!(d.cache, Caching::For(Duration::from_secs(60)));
/// assert_eq!(AuthzDecision::allow().cached().cache, Caching::Forever);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthzDecision {
    /// Whether the action may proceed.
    pub allowed: bool,
    /// Whether, and how long, the decision may be reused.
    pub cache: Caching,
}

impl AuthzDecision {
    /// Allowed, not cached.
    pub const fn allow() -> AuthzDecision {
        AuthzDecision {
            allowed: true,
            cache: Caching::No,
        }
    }

    /// Denied, not cached.
    pub const fn deny() -> AuthzDecision {
        AuthzDecision {
            allowed: false,
            cache: Caching::No,
        }
    }

    /// The same decision, cached until cleared or evicted.
    pub const fn cached(self) -> AuthzDecision {
        AuthzDecision {
            cache: Caching::Forever,
            ..self
        }
    }

    /// The same decision, cached for `ttl`.
    pub const fn cached_for(self, ttl: Duration) -> AuthzDecision {
        AuthzDecision {
            cache: Caching::For(ttl),
            ..self
        }
    }
}

impl From<bool> for AuthzDecision {
    /// `true` allows, `false` denies; neither is cached.
    fn from(allowed: bool) -> Self {
        AuthzDecision {
            allowed,
            cache: Caching::No,
        }
    }
}

impl AuthzAction {
    /// The action's name: `call`, `register`, `publish` or `subscribe`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthzAction::Call => "call",
            AuthzAction::Register => "register",
            AuthzAction::Publish => "publish",
            AuthzAction::Subscribe => "subscribe",
        }
    }
}

impl fmt::Display for AuthzAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---- the decision cache ---------------------------------------------------------------------

/// One cached decision. The URI is the key of the map that holds it.
#[derive(Debug)]
struct Slot {
    /// Insertion number, matching the entry of `DecisionCache::order`.
    seq: u64,
    realm: usize,
    authrole: String,
    action: AuthzAction,
    policy: MatchPolicy,
    allowed: bool,
    expires: Option<Instant>,
}

/// External authorizers' decisions by (realm, authrole, action, match policy, URI), at most
/// `capacity` of them; when full, the oldest entry makes room.
///
/// Slots are grouped by URI so a lookup borrows the URI and the authrole from the request and
/// allocates nothing; the few slots of one URI (one per role and action) are scanned.
#[derive(Debug)]
pub(crate) struct DecisionCache {
    capacity: usize,
    slots: HashMap<Uri, Vec<Slot>>,
    len: usize,
    /// Insertion order, for eviction: (seq, URI). Entries whose slot was replaced or removed
    /// are skipped when met, and swept out once the queue is twice the capacity, so it
    /// stays bounded too.
    order: VecDeque<(u64, Uri)>,
    next_seq: u64,
}

impl DecisionCache {
    pub(crate) fn new(capacity: usize) -> Self {
        DecisionCache {
            capacity,
            slots: HashMap::new(),
            len: 0,
            order: VecDeque::new(),
            next_seq: 0,
        }
    }

    /// The cached decision, if there is one that has not expired by `now`.
    #[allow(clippy::too_many_arguments)]
    fn get(
        &mut self,
        now: Instant,
        realm: usize,
        authrole: &str,
        action: AuthzAction,
        policy: MatchPolicy,
        uri: &str,
    ) -> Option<bool> {
        let slots = self.slots.get_mut(uri)?;
        let i = slots.iter().position(|s| {
            s.realm == realm && s.action == action && s.policy == policy && s.authrole == authrole
        })?;
        if slots[i].expires.is_some_and(|at| now >= at) {
            slots.swap_remove(i);
            self.len = self.len.saturating_sub(1);
            if slots.is_empty() {
                self.slots.remove(uri);
            }
            return None;
        }
        Some(slots[i].allowed)
    }

    /// Remembers a decision (replacing any for the same key).
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        now: Instant,
        realm: usize,
        authrole: &str,
        action: AuthzAction,
        policy: MatchPolicy,
        uri: &Uri,
        decision: AuthzDecision,
    ) {
        let expires = match decision.cache {
            Caching::No => return,
            Caching::Forever => None,
            // Too far to represent: as good as forever.
            Caching::For(ttl) => now.checked_add(ttl),
        };
        if self.capacity == 0 {
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let existing = self.slots.get_mut(uri.as_str()).and_then(|slots| {
            slots.iter_mut().find(|s| {
                s.realm == realm
                    && s.action == action
                    && s.policy == policy
                    && s.authrole == authrole
            })
        });
        if let Some(slot) = existing {
            slot.seq = seq;
            slot.allowed = decision.allowed;
            slot.expires = expires;
        } else {
            while self.len >= self.capacity && self.evict_oldest() {}
            self.slots.entry(uri.clone()).or_default().push(Slot {
                seq,
                realm,
                authrole: authrole.to_owned(),
                action,
                policy,
                allowed: decision.allowed,
                expires,
            });
            self.len += 1;
        }
        self.order.push_back((seq, uri.clone()));
        if self.order.len() > 2 * self.capacity {
            self.sweep_order();
        }
    }

    /// Removes the oldest live entry; false when there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some((seq, uri)) = self.order.pop_front() {
            let Some(slots) = self.slots.get_mut(&uri) else {
                continue;
            };
            let Some(i) = slots.iter().position(|s| s.seq == seq) else {
                continue;
            };
            slots.swap_remove(i);
            self.len = self.len.saturating_sub(1);
            if slots.is_empty() {
                self.slots.remove(&uri);
            }
            return true;
        }
        false
    }

    /// Drops the order entries of slots that were replaced or removed.
    fn sweep_order(&mut self) {
        let slots = &self.slots;
        self.order.retain(|(seq, uri)| {
            slots
                .get(uri)
                .is_some_and(|s| s.iter().any(|s| s.seq == *seq))
        });
    }

    /// Forgets the decisions of one realm, or all.
    pub(crate) fn clear(&mut self, realm: Option<usize>) {
        match realm {
            None => {
                self.slots.clear();
                self.order.clear();
                self.len = 0;
            }
            Some(r) => {
                self.slots.retain(|_, slots| {
                    slots.retain(|s| s.realm != r);
                    !slots.is_empty()
                });
                self.len = self.slots.values().map(Vec::len).sum();
                self.sweep_order();
            }
        }
    }
}

// ---- the router's path through authorization ---------------------------------------------------

/// How far a message has come through authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Nothing is decided yet.
    New,
    /// The action itself is allowed; the target of a meta procedure is checked next.
    ActionAllowed,
    /// Everything is allowed.
    Allowed,
}

/// What authorization settled for an allowed message.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Grant {
    /// A permission forces disclosure of the caller or publisher.
    pub disclose: bool,
}

/// The outcome of one check.
enum Verdict {
    Allow(Grant),
    Deny(String),
    Ask,
}

/// One question: an action on a URI under a match policy.
type Question = (AuthzAction, MatchPolicy, Uri);

/// The action a message performs, and on what.
fn subject(message: &Message) -> Option<(AuthzAction, MatchPolicy, &Uri)> {
    Some(match message {
        Message::Publish(m) => (AuthzAction::Publish, MatchPolicy::Exact, &m.topic),
        Message::Subscribe(m) => (
            AuthzAction::Subscribe,
            m.options.match_policy.unwrap_or_default(),
            &m.topic,
        ),
        Message::Register(m) => (
            AuthzAction::Register,
            m.options.match_policy.unwrap_or_default(),
            &m.procedure,
        ),
        Message::Call(m) => (AuthzAction::Call, MatchPolicy::Exact, &m.procedure),
        _ => return None,
    })
}

/// What a denial of a meta procedure's target means, for the message.
fn meta_purpose(procedure: &str) -> &'static str {
    match procedure {
        "wamp.subscription.get_events" => "so it may not read that subscription's events",
        "wamp.session.add_testament" => "so it may not leave a testament for that topic",
        _ => "",
    }
}

/// "authrole "x" may not subscribe to com.app. (prefix pattern)".
fn refusal(authrole: &str, action: AuthzAction, policy: MatchPolicy, uri: &Uri) -> String {
    let to = match action {
        AuthzAction::Publish | AuthzAction::Subscribe => " to",
        AuthzAction::Call | AuthzAction::Register => "",
    };
    let pattern = match policy {
        MatchPolicy::Exact => String::new(),
        p => format!(" ({p} pattern)"),
    };
    format!("authrole {authrole:?} may not {action}{to} {uri}{pattern}")
}

/// The router's authorization state: the external authorizer's cached decisions, and the
/// counter of its questions.
pub(crate) struct Gate {
    pub cache: DecisionCache,
    next_token: u32,
}

/// A message that may proceed, with what authorization settled for it.
pub(crate) type Allowed = (Message, Grant);

impl Gate {
    pub fn new(cache_capacity: usize) -> Self {
        Gate {
            cache: DecisionCache::new(cache_capacity),
            next_token: 0,
        }
    }

    /// Checks `message` (a PUBLISH, SUBSCRIBE, REGISTER or CALL of the session on `conn` in
    /// `realm`) against the realm's authorization, `stage` saying what is already allowed:
    /// returns it when it may proceed at once (everything allowed, roles, a cached
    /// decision); otherwise it is refused here, or held while the application answers the
    /// [`Action::Authorize`] this emits (later messages of the session wait meanwhile).
    pub fn check(
        &mut self,
        cx: &mut Ctx<'_>,
        realm: &Realm,
        conn: ConnectionId,
        message: Message,
        mut stage: Stage,
    ) -> Option<Allowed> {
        let mut grant = Grant::default();
        // The common case costs nothing more than this test.
        if matches!(realm.config.authz, AuthzMode::AllowAll) {
            stage = Stage::Allowed;
        }
        if stage == Stage::New {
            let (action, policy, uri) = subject(&message)?;
            match self.verdict(cx, realm, conn, action, policy, uri) {
                Verdict::Allow(g) => grant = g,
                Verdict::Deny(why) => {
                    deny(cx.conns, conn, &message, why);
                    return None;
                }
                Verdict::Ask => {
                    let question = (action, policy, uri.clone());
                    self.ask(
                        cx.conns,
                        realm,
                        conn,
                        message,
                        question,
                        Stage::ActionAllowed,
                    );
                    return None;
                }
            }
            stage = Stage::ActionAllowed;
        }
        if stage == Stage::ActionAllowed {
            // A meta procedure has no callee to disclose its caller to: what it discloses
            // (a testament's publisher) comes from the permission for its target.
            if matches!(&message, Message::Call(m) if m.procedure.is_reserved()) {
                grant = Grant::default();
            }
            if let Some((action, policy, uri)) = meta_target(realm, &message) {
                match self.verdict(cx, realm, conn, action, policy, &uri) {
                    Verdict::Allow(g) => grant = g,
                    Verdict::Deny(why) => {
                        let why = match &message {
                            Message::Call(m) => {
                                format!("{why}, {}", meta_purpose(m.procedure.as_str()))
                            }
                            _ => why,
                        };
                        deny(cx.conns, conn, &message, why);
                        return None;
                    }
                    Verdict::Ask => {
                        let question = (action, policy, uri);
                        self.ask(cx.conns, realm, conn, message, question, Stage::Allowed);
                        return None;
                    }
                }
            }
        }
        Some((message, grant))
    }

    /// Decides one question for the session on `conn` at once, if the realm can.
    fn verdict(
        &mut self,
        cx: &Ctx<'_>,
        realm: &Realm,
        conn: ConnectionId,
        action: AuthzAction,
        policy: MatchPolicy,
        uri: &Uri,
    ) -> Verdict {
        let Some(s) = cx.conns.session(conn) else {
            return Verdict::Deny("the session is gone".into());
        };
        match &realm.config.authz {
            AuthzMode::AllowAll => Verdict::Allow(Grant::default()),
            AuthzMode::Roles(roles) => match roles.permission(&s.authrole, uri.as_str(), policy) {
                Some(p) if p.allows(action) => Verdict::Allow(Grant {
                    disclose: p.discloses(action),
                }),
                Some(_) => Verdict::Deny(refusal(&s.authrole, action, policy, uri)),
                None if roles.permissions(&s.authrole).is_none() => Verdict::Deny(format!(
                    "{} (realm {} gives that authrole no permissions)",
                    refusal(&s.authrole, action, policy, uri),
                    realm.config.name
                )),
                None => Verdict::Deny(refusal(&s.authrole, action, policy, uri)),
            },
            AuthzMode::External => {
                let cached = self.cache.get(
                    cx.now,
                    realm.id.index(),
                    &s.authrole,
                    action,
                    policy,
                    uri.as_str(),
                );
                match cached {
                    Some(true) => Verdict::Allow(Grant::default()),
                    Some(false) => Verdict::Deny(refusal(&s.authrole, action, policy, uri)),
                    None => Verdict::Ask,
                }
            }
        }
    }

    /// Holds `message` and asks the application about `question`; `then` is how far the
    /// message gets if the answer is yes.
    fn ask(
        &mut self,
        conns: &mut Connections,
        realm: &Realm,
        conn: ConnectionId,
        message: Message,
        question: Question,
        then: Stage,
    ) {
        let Some(s) = conns.session(conn) else {
            return;
        };
        let via = match (&message, then) {
            (Message::Call(m), Stage::Allowed) => Some(m.procedure.clone()),
            _ => None,
        };
        // The token names the connection's slot, so the answer finds it without a table.
        self.next_token = self.next_token.wrapping_add(1);
        let token = u64::from(conn.index()) << 32 | u64::from(self.next_token);
        let (action, match_policy, uri) = question.clone();
        let request = AuthzRequest {
            token,
            connection: conn,
            session: s.id,
            realm: realm.config.name.clone(),
            authid: s.authid.clone(),
            authrole: s.authrole.clone(),
            action,
            uri,
            match_policy,
            via,
        };
        if let Some(c) = conns.get_mut(conn) {
            c.pending = Some(Box::new(PendingAuthz {
                token,
                message,
                question,
                then,
            }));
        }
        conns.actions.push_back(Action::Authorize(request));
    }

    /// Carries out the application's decision about a held message: returns it if it may
    /// proceed (or is checked further), refuses it otherwise.
    pub fn decided(
        &mut self,
        cx: &mut Ctx<'_>,
        realm: &Realm,
        conn: ConnectionId,
        pending: PendingAuthz,
        decision: AuthzDecision,
    ) -> Option<Allowed> {
        let s = cx.conns.session(conn)?;
        let (action, policy, uri) = &pending.question;
        self.cache.insert(
            cx.now,
            realm.id.index(),
            &s.authrole,
            *action,
            *policy,
            uri,
            decision,
        );
        if decision.allowed {
            return self.check(cx, realm, conn, pending.message, pending.then);
        }
        let mut why = refusal(&s.authrole, *action, *policy, uri);
        if let (Message::Call(m), Stage::Allowed) = (&pending.message, pending.then) {
            why = format!("{why}, {}", meta_purpose(m.procedure.as_str()));
        }
        deny(cx.conns, conn, &pending.message, why);
        None
    }
}

/// The second question a meta procedure raises: what its target needs.
fn meta_target(realm: &Realm, message: &Message) -> Option<Question> {
    let Message::Call(m) = message else {
        return None;
    };
    if !m.procedure.is_reserved() {
        return None;
    }
    let payload = m.payload.decoded().ok()?;
    let Payload::Args { args, .. } = payload.as_ref() else {
        return None;
    };
    // Arguments the procedure rejects raise no question: it answers with its own error.
    match m.procedure.as_str() {
        "wamp.subscription.get_events" => {
            let id = args.first()?.as_u64().and_then(SubscriptionId::new)?;
            let sub = realm.broker.subscriptions.get(&id)?;
            Some((AuthzAction::Subscribe, sub.policy, sub.uri.clone()))
        }
        "wamp.session.add_testament" => {
            let topic = args.first()?.as_str()?;
            Some((
                AuthzAction::Publish,
                MatchPolicy::Exact,
                Uri::new_unchecked(topic),
            ))
        }
        _ => None,
    }
}

/// Answers a denied action with ERROR `wamp.error.not_authorized` saying `why` (nothing
/// for an unacknowledged PUBLISH).
fn deny(conns: &mut Connections, conn: ConnectionId, message: &Message, why: String) {
    let (kind, request) = match message {
        Message::Publish(m) if m.options.acknowledge == Some(true) => {
            (RequestType::Publish, m.request)
        }
        Message::Subscribe(m) => (RequestType::Subscribe, m.request),
        Message::Register(m) => (RequestType::Register, m.request),
        Message::Call(m) => {
            // A refused progressive call: the caller's next chunks are discarded.
            if m.options.progress == Some(true) {
                if let Some(s) = conns.session_mut(conn) {
                    s.rpc.stream_ended(m.request);
                }
            }
            (RequestType::Call, m.request)
        }
        _ => return,
    };
    conns.reply(
        conn,
        Error::new(kind, request, uri::error::NOT_AUTHORIZED).with_args(vec![Value::from(why)]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn precedence_is_the_dealers() {
        let roles = Roles::new().with_role(
            "r",
            [
                Permission::prefix("a.").allow(AuthzAction::Call),
                Permission::prefix("a.b.").allow(AuthzAction::Register),
                Permission::wildcard("a..c").allow(AuthzAction::Publish),
                Permission::wildcard("a.b.").allow(AuthzAction::Subscribe),
                Permission::exact("a.b.c"),
            ],
        );
        let find = |uri| {
            roles
                .permission("r", uri, MatchPolicy::Exact)
                .map(|p| p.uri.as_str())
        };
        assert_eq!(find("a.b.c"), Some("a.b.c"));
        assert_eq!(find("a.b.d"), Some("a.b."));
        assert_eq!(find("a.x.c"), Some("a."));
        assert_eq!(find("x.y"), None);
        let roles = Roles::new().with_role(
            "r",
            [
                Permission::wildcard("a1...d4"),
                Permission::wildcard("a1.b2..d4"),
            ],
        );
        let best = roles
            .permission("r", "a1.b2.c3.d4", MatchPolicy::Exact)
            .unwrap();
        assert_eq!(best.uri.as_str(), "a1.b2..d4");
    }

    #[test]
    fn patterns_are_covered_only_by_what_covers_all_they_reach() {
        let roles = Roles::new().with_role(
            "r",
            [
                Permission::exact("com.app").allow_all(),
                Permission::prefix("com.pub.").allow_all(),
                Permission::wildcard("com..get").allow_all(),
            ],
        );
        let ok = |uri, policy| roles.allows("r", AuthzAction::Subscribe, uri, policy);
        assert!(ok("com.app", MatchPolicy::Exact));
        assert!(!ok("com.app", MatchPolicy::Prefix));
        assert!(ok("com.pub.x.", MatchPolicy::Prefix));
        assert!(ok("com.pub...y", MatchPolicy::Wildcard));
        assert!(!ok("com.pu", MatchPolicy::Prefix));
        assert!(ok("com..get", MatchPolicy::Wildcard));
        assert!(ok("com.x.get", MatchPolicy::Wildcard));
        assert!(!ok("..get", MatchPolicy::Wildcard));
        assert!(!ok("com..get", MatchPolicy::Prefix));
    }

    #[test]
    fn the_first_duplicate_wins() {
        let roles = Roles::new().with_role(
            "r",
            [
                Permission::prefix("a.").allow(AuthzAction::Call),
                Permission::prefix("a."),
                Permission::exact("a.b").allow(AuthzAction::Call),
                Permission::exact("a.b"),
            ],
        );
        assert!(roles.allows("r", AuthzAction::Call, "a.x", MatchPolicy::Exact));
        assert!(roles.allows("r", AuthzAction::Call, "a.b", MatchPolicy::Exact));
    }

    #[test]
    fn cache_hits_misses_expiry_and_bound() {
        let t0 = Instant::now();
        let mut cache = DecisionCache::new(2);
        let (call, exact) = (AuthzAction::Call, MatchPolicy::Exact);
        let u = |s: &str| Uri::new_unchecked(s);
        assert_eq!(cache.get(t0, 0, "r", call, exact, "a"), None);
        cache.insert(t0, 0, "r", call, exact, &u("a"), AuthzDecision::allow());
        assert_eq!(cache.get(t0, 0, "r", call, exact, "a"), None, "not cached");
        cache.insert(
            t0,
            0,
            "r",
            call,
            exact,
            &u("a"),
            AuthzDecision::allow().cached(),
        );
        assert_eq!(cache.get(t0, 0, "r", call, exact, "a"), Some(true));
        // Another realm, role, action or policy is another key.
        assert_eq!(cache.get(t0, 1, "r", call, exact, "a"), None);
        assert_eq!(cache.get(t0, 0, "s", call, exact, "a"), None);
        assert_eq!(
            cache.get(t0, 0, "r", AuthzAction::Publish, exact, "a"),
            None
        );
        assert_eq!(cache.get(t0, 0, "r", call, MatchPolicy::Prefix, "a"), None);
        let ttl = Duration::from_secs(10);
        cache.insert(
            t0,
            0,
            "r",
            call,
            exact,
            &u("b"),
            AuthzDecision::deny().cached_for(ttl),
        );
        assert_eq!(cache.get(at(t0, 9), 0, "r", call, exact, "b"), Some(false));
        assert_eq!(cache.get(at(t0, 10), 0, "r", call, exact, "b"), None);
        assert_eq!(cache.len, 1);
        // Full at two: the oldest goes.
        cache.insert(
            t0,
            0,
            "r",
            call,
            exact,
            &u("c"),
            AuthzDecision::allow().cached(),
        );
        cache.insert(
            t0,
            0,
            "r",
            call,
            exact,
            &u("d"),
            AuthzDecision::allow().cached(),
        );
        assert_eq!(cache.len, 2);
        assert_eq!(cache.get(t0, 0, "r", call, exact, "a"), None);
        assert_eq!(cache.get(t0, 0, "r", call, exact, "c"), Some(true));
        // Replacing a decision refreshes its age.
        for _ in 0..100 {
            cache.insert(
                t0,
                0,
                "r",
                call,
                exact,
                &u("c"),
                AuthzDecision::deny().cached(),
            );
        }
        assert!(cache.order.len() <= 4, "{}", cache.order.len());
        cache.insert(
            t0,
            0,
            "r",
            call,
            exact,
            &u("e"),
            AuthzDecision::allow().cached(),
        );
        assert_eq!(cache.get(t0, 0, "r", call, exact, "d"), None);
        assert_eq!(cache.get(t0, 0, "r", call, exact, "c"), Some(false));
        cache.insert(
            t0,
            1,
            "r",
            call,
            exact,
            &u("e"),
            AuthzDecision::allow().cached(),
        );
        cache.clear(Some(0));
        assert_eq!(cache.get(t0, 0, "r", call, exact, "e"), None);
        assert_eq!(cache.get(t0, 1, "r", call, exact, "e"), Some(true));
        cache.clear(None);
        assert_eq!(cache.len, 0);
        // Capacity 0: nothing is kept.
        let mut none = DecisionCache::new(0);
        none.insert(
            t0,
            0,
            "r",
            call,
            exact,
            &u("a"),
            AuthzDecision::allow().cached(),
        );
        assert_eq!(none.get(t0, 0, "r", call, exact, "a"), None);
    }
}
