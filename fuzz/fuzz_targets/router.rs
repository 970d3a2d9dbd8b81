#![no_main]
//! The router as a state machine under arbitrary sequences of operations from up to six
//! connections, interpreted from the input bytes, with its invariants checked after every
//! operation.
//!
//! # Configurations
//!
//! The first byte picks the configuration:
//!
//! - odd: tiny outbound queues (slow subscribers dropped or disconnected), lenient request
//!   IDs, a small pending-message limit, external authentication and authorization on
//!   `realm1` (answered by operations of the input, or left pending), and maybe realms
//!   created on demand;
//! - even with the high bit set: the advanced-profile realms. `realm1` (anonymous or
//!   externally authenticated) has event history rules (one of them with limit 0), at most
//!   two retained topics, caller and publisher disclosure policies chosen by the byte, trust
//!   levels by authrole and transport, and the slow-subscriber policy `DisconnectAfter(3)`;
//!   `realm2` never discloses callers, always discloses publishers, keeps one event of
//!   history and no retained event. Queues are small, sessions hold at most two testaments,
//!   request IDs are strict or lenient, and the router knows the wall clock;
//! - otherwise: the default one (`RouterConfig::with_realm`).
//!
//! The rest is a sequence of operations, each an opcode byte and its argument bytes
//! (missing bytes read as 0). Arguments come from small sets so that they often hit real
//! topics, IDs and sessions, and sometimes do not: the operations cover attach/detach (with
//! a transport label), HELLO with roles announcing any subset of the advanced features,
//! GOODBYE, ABORT, PUBLISH with every publication option (acknowledge, exclude_me,
//! black/whitelists by session, authid and authrole, disclose_me, retain, rkey, passthru),
//! SUBSCRIBE (match policy, get_retained, nkey; also to the meta topics), UNSUBSCRIBE,
//! REGISTER (match and invocation policies, disclose_caller, forward_timeout), UNREGISTER,
//! CALL (progress, receive_progress, timeout, disclose_me, runmode/rkey, passthru) and the
//! chunks of progressive call invocations, CANCEL, YIELD and callee ERROR (including
//! `wamp.error.unavailable` and passthru answers), meta procedure calls
//! (`wamp.registration.*`, `wamp.subscription.*` with `get_events`, `remove_subscriber`,
//! `remove_callee`, `wamp.session.*` with `kill*`, `add_testament`, `flush_testaments`) with
//! real arguments or garbage, the router's own messages sent by a client, undecodable
//! frames, time passing, shutdown, `Router::kill`, `revoke_registration`,
//! `revoke_subscription`, `add_realm`, authentication and authorization decisions, and a
//! client pausing its reading.
//!
//! # The client model
//!
//! Each connection has a client model that follows what the router sends it and checks it:
//! no message after `Close` or after ABORT, a second `Close` never, WELCOME/CHALLENGE only
//! outside a session (WELCOME with the realm and identity the driver expects) and
//! everything else only inside one, GOODBYE only with a known reason, every reply answering
//! an outstanding request of the right kind, UNSUBSCRIBED/UNREGISTERED without a request
//! only for a subscription/registration the session held and only to sessions that
//! announced revocation, INTERRUPT only to callees that can be canceled.
//!
//! Every PUBLISH, CALL, YIELD, callee ERROR and testament carries a tag as its first
//! argument, naming what was sent (by whom, with which options), so the model checks each
//! EVENT, INVOCATION, RESULT and relayed ERROR against its origin:
//!
//! - EVENT: for a subscription the session holds whose topic matches the publication's,
//!   `topic` exactly for pattern subscriptions, in the publisher's realm, at most once per
//!   subscription and publication, the publisher excluded unless `exclude_me` is false,
//!   admitted by the black- and whitelists, the publisher disclosed exactly as the realm's
//!   policy and `disclose_me` say (never when the realm refuses `disclose_me`), the
//!   publisher's trust level, the passthru options unchanged. Retained EVENTs
//!   (`details.retained`) only right after the SUBSCRIBED of a SUBSCRIBE with
//!   `get_retained`, for retained publications, at most one per topic and no more than the
//!   realm's `max_retained`. Meta EVENTs only on the topics the router publishes, with no
//!   publisher, trust level or tag, about sessions of the same realm.
//! - INVOCATION: new ones with sequential IDs for a registration the session holds and a
//!   CALL whose procedure it matches (`procedure` exactly for patterns), from the same
//!   realm; the caller disclosed as the realm policy, `disclose_me` and this callee's
//!   `disclose_caller` say; the caller's trust level; `timeout` only when this callee asked
//!   for `forward_timeout` and announced `call_timeout`; `receive_progress` and `progress`
//!   only as the call asked and the callee supports; passthru options unchanged and only to
//!   callees that announced passthru. Chunks of a progressive call invocation reuse the ID
//!   of an open chunked invocation of the same registration, come from continuations of
//!   that same call, and carry nothing but `progress`.
//! - RESULT and ERROR for a CALL: from a YIELD/ERROR of the callee the call was invoked on,
//!   for that call (request ID, connection, session); progressive only for calls that asked
//!   and from progressive YIELDs; passthru only to callers that announced it;
//!   `wamp.error.unavailable` relayed only from callees that cannot be re-routed. Meta
//!   procedure calls are answered by the router itself (no callee payload); the answers of
//!   `wamp.session.list` and `wamp.subscription.get_events` are checked (sessions of the
//!   realm, the caller listed as its filter says; stored events of matching topics, in the
//!   realm, admitted by the caller, each once, no more than the history rules keep).
//! - ERROR for an INVOCATION only for an invocation the callee answered in passthru mode.
//!
//! A client sends CALLs as a real one does: a CALL with the request ID of one of its
//! progressive calls still open is a continuation (no new answer expected); a new call never
//! reuses the ID of an earlier progressive call (the router may take it for a late
//! continuation), and a session starts at most 60 progressive calls (below the router's grace
//! table of ended ones).
//!
//! # Router-level checks
//!
//! The session and connection counts agree with the connections; once every handshake and
//! GOODBYE deadline has passed, every connection is established or closed; `poll_timeout`
//! is never at or before the `now` just handled; a connection that lost more EVENTs than
//! its slow-subscriber policy allows is closed; the API contracts of `kill`, `add_realm`,
//! `resolve_*`, `revoke_*` (a revocation succeeds only for a registration or subscription
//! the client got or is getting); and at the end, after every client has read everything
//! and every invocation is answered, every request has its answer, and once every
//! connection is detached the router is idle, empty and has no timer left.
//!
//! # Seeds and regressions
//!
//! `fuzz/seed_corpus.py` seeds the corpus with scenarios written in this target's operation
//! encoding (progressive calls, passthru, retention and history, kills, testaments,
//! revocation, sharding and re-routing, disclosure, identities, slow subscribers, timeouts,
//! authorization holding progressive calls): keep it in step with the opcodes and argument
//! bytes here. `fuzz/regressions/` holds inputs that found router bugs; each must run clean.
//!
//! Set `NEXUS_FUZZ_TRACE=1` to print the operations (and every message, without its absent
//! fields) while replaying an input.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use libfuzzer_sys::fuzz_target;
use nexus_core::message::*;
use nexus_core::router::{
    Action, AuthDecision, AuthMode, AuthzDecision, AuthzMode, ConnectionId, Disclosure,
    HistoryRule, Identity, QueueConfig, RealmConfig, RequestIdPolicy, Router, RouterConfig,
    SlowSubscriberPolicy, TrustLevels, UsageError,
};
use nexus_core::{
    features, to_value, DecodeError, Dict, Id, IdOutOfRange, MatchPolicy, Payload, PublicationId,
    RegistrationId, RequestId, Serializer, SessionId, SubscriptionId, Uri, Value,
};

const MAX_CLIENTS: usize = 6;
const MAX_OPS: usize = 4096;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Progressive calls a session starts at most (the router remembers 64 ended ones).
const MAX_STREAMS: usize = 60;
/// Tags (the first argument of what the clients send) start here, far above any ID.
const TAG_BASE: u64 = 1 << 60;

const TOPICS: &[&str] = &[
    "a", "a.b", "a.b.c", "a.c", "x.y", "a..c", ".b", "a.", "wamp.x", "a..b", "", "a b",
];
/// Meta topics (and patterns of them) to subscribe to.
const META_TOPICS: &[&str] = &[
    "wamp.session.on_join",
    "wamp.session.on_leave",
    "wamp.session.on_events_dropped",
    "wamp.subscription.on_subscribe",
    "wamp.subscription.on_create",
    "wamp.subscription.on_unsubscribe",
    "wamp.subscription.on_delete",
    "wamp.registration.on_register",
    "wamp.registration.on_create",
    "wamp.registration.on_unregister",
    "wamp.registration.on_delete",
    "wamp.",
    "wamp.session",
    "wamp..on_delete",
];
/// The meta topics the router publishes.
const META_EVENTS: &[&str] = &[
    "wamp.session.on_join",
    "wamp.session.on_leave",
    "wamp.session.on_events_dropped",
    "wamp.subscription.on_subscribe",
    "wamp.subscription.on_create",
    "wamp.subscription.on_unsubscribe",
    "wamp.subscription.on_delete",
    "wamp.registration.on_register",
    "wamp.registration.on_create",
    "wamp.registration.on_unregister",
    "wamp.registration.on_delete",
];
const META_PROCEDURES: &[&str] = &[
    "wamp.registration.list",
    "wamp.registration.lookup",
    "wamp.registration.match",
    "wamp.registration.get",
    "wamp.registration.list_callees",
    "wamp.registration.count_callees",
    "wamp.registration.remove_callee",
    "wamp.subscription.list",
    "wamp.subscription.lookup",
    "wamp.subscription.match",
    "wamp.subscription.get",
    "wamp.subscription.list_subscribers",
    "wamp.subscription.count_subscribers",
    "wamp.subscription.remove_subscriber",
    "wamp.subscription.get_events",
    "wamp.subscription.get_events",
    "wamp.session.count",
    "wamp.session.list",
    "wamp.session.get",
    "wamp.session.kill",
    "wamp.session.kill_by_authid",
    "wamp.session.kill_by_authrole",
    "wamp.session.kill_all",
    "wamp.nope",
];
const REALMS: &[&str] = &[
    "realm1", "realm1", "realm1", "realm1", "realm1", "realm2", "nope", "",
];
const AUTHIDS: &[&str] = &["alice", "bob", "carol"];
const AUTHROLES: &[&str] = &["user", "admin", "anonymous"];
/// Identities given by external authentication: (authid, authrole).
const IDENTITIES: &[(&str, &str)] = &[
    ("alice", "user"),
    ("bob", "admin"),
    ("carol", "user"),
    ("alice", "admin"),
];
const TRANSPORTS: &[Option<&str>] = &[None, Some("ws"), Some("unix"), Some("tcp")];
const RKEYS: &[&str] = &["k1", "k2", "k3"];
const NKEYS: &[&str] = &["n1", "n2"];
/// Every reason a GOODBYE from the router may give.
const GOODBYE_REASONS: &[&str] = &[
    "wamp.close.goodbye_and_out",
    "wamp.close.killed",
    "wamp.close.system_shutdown",
    "com.example.kicked",
];
const TIMES: &[&str] = &[
    "2023-11-14T22:13:20Z",
    "2023-11-14T22:13:30Z",
    "2099-01-01T00:00:00Z",
    "yesterday",
];
const STEPS: &[Duration] = &[
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(100),
    Duration::from_secs(1),
    Duration::from_millis(4999),
    Duration::from_secs(5),
    Duration::from_millis(5001),
    Duration::from_millis(9999),
    Duration::from_secs(10),
    Duration::from_millis(10001),
    Duration::from_secs(11),
    Duration::from_secs(60),
    Duration::from_secs(3600),
];

fn trace_enabled() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("NEXUS_FUZZ_TRACE").is_some())
}

macro_rules! trace {
    ($($arg:tt)*) => {
        if trace_enabled() {
            eprintln!($($arg)*);
        }
    };
}

/// The passthru options of any options or details struct.
macro_rules! ppt {
    ($o:expr) => {
        [
            $o.ppt_scheme.clone(),
            $o.ppt_serializer.clone(),
            $o.ppt_cipher.clone(),
            $o.ppt_keyid.clone(),
        ]
    };
}

type Ppt = [Option<String>; 4];

/// The ID `n` clamped into range, typed by what the caller expects (a session, a request...).
fn id<T: TryFrom<u64, Error = IdOutOfRange>>(n: u64) -> T {
    T::try_from(n.clamp(1, Id::MAX.get())).expect("in range")
}

fn uri(s: &str) -> Uri {
    Uri::new_unchecked(s)
}

fn has(role: &Option<Role>, feature: &str) -> bool {
    role.as_ref().is_some_and(|r| r.supports(feature))
}

fn canceling(role: &Option<Role>) -> bool {
    has(role, features::CALL_CANCELING) || has(role, features::CALL_CANCELLING)
}

fn progressive_results(role: &Option<Role>) -> bool {
    canceling(role) && has(role, features::PROGRESSIVE_CALL_RESULTS)
}

/// Whether a publication's black- and whitelists admit a session (`authid` `None`: an
/// anonymous session whose random authid is in no list).
fn admits(o: &PublishOptions, session: SessionId, authid: Option<&str>, authrole: &str) -> bool {
    let in_ids = |l: &Option<Vec<SessionId>>| l.as_ref().map(|l| l.contains(&session));
    let in_strs = |l: &Option<Vec<String>>, x: Option<&str>| {
        l.as_ref()
            .map(|l| x.is_some_and(|x| l.iter().any(|e| e == x)))
    };
    in_ids(&o.eligible) != Some(false)
        && in_strs(&o.eligible_authid, authid) != Some(false)
        && in_strs(&o.eligible_authrole, Some(authrole)) != Some(false)
        && in_ids(&o.exclude) != Some(true)
        && in_strs(&o.exclude_authid, authid) != Some(true)
        && in_strs(&o.exclude_authrole, Some(authrole)) != Some(true)
}

/// The tag of a payload: what the fuzz clients put first in everything they send.
fn tag_in(args: &[Value]) -> Option<usize> {
    match args.first() {
        Some(Value::UInt(t)) if *t >= TAG_BASE => usize::try_from(t - TAG_BASE).ok(),
        _ => None,
    }
}

fn tag_of(p: &Payload) -> Option<usize> {
    tag_in(p.args())
}

/// The input as a stream of bytes; reads past the end give 0.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[usize::from(self.byte()) % items.len()]
    }

    fn index(&mut self, len: usize) -> usize {
        usize::from(self.byte()) % len.max(1)
    }
}

// ---- what was sent -------------------------------------------------------------------------

/// A PUBLISH, or a testament (published when its session ends).
#[derive(Debug)]
struct Publication {
    conn: ConnectionId,
    /// The publisher's session when it was sent.
    session: Option<SessionId>,
    topic: Uri,
    options: PublishOptions,
    testament: bool,
}

#[derive(Debug)]
struct CallSent {
    conn: ConnectionId,
    session: Option<SessionId>,
    request: u64,
    procedure: Uri,
    options: CallOptions,
    /// Sent as a chunk of one of the client's progressive calls still open.
    continuation: bool,
}

/// A YIELD, or an ERROR for an INVOCATION.
#[derive(Debug)]
struct AnswerSent {
    session: Option<SessionId>,
    invocation: u64,
    progress: bool,
    error: Option<String>,
    ppt: Ppt,
}

#[derive(Debug)]
enum Sent {
    Publication(Publication),
    Call(CallSent),
    Answer(AnswerSent),
}

/// A session as the driver knows it.
#[derive(Debug, Clone)]
struct SessionInfo {
    conn: ConnectionId,
    realm: String,
    /// `None` for an anonymous session until its WELCOME is read.
    authid: Option<String>,
    authrole: String,
    trust: u64,
    roles: ClientRoles,
}

/// What every client model can see: what was sent, the sessions, the realms.
#[derive(Default)]
struct World {
    sent: Vec<Sent>,
    sessions: BTreeMap<SessionId, SessionInfo>,
    realms: BTreeMap<String, RealmConfig>,
    /// Every subscription and registration seen, with its URI and match policy.
    subs: BTreeMap<SubscriptionId, (Uri, MatchPolicy)>,
    regs: BTreeMap<RegistrationId, (Uri, MatchPolicy)>,
    /// (callee session, INVOCATION ID) → the tag of the CALL invoked.
    invoked: HashMap<(SessionId, u64), usize>,
    /// The tags of the CALLs invoked so far (a second INVOCATION is a re-routed call).
    invoked_calls: BTreeSet<usize>,
    /// Recent publication IDs, for the history filters.
    publications: VecDeque<PublicationId>,
}

impl World {
    fn tag(&mut self, sent: Sent) -> Value {
        self.sent.push(sent);
        Value::from(TAG_BASE + (self.sent.len() - 1) as u64)
    }

    fn session(&self, s: SessionId) -> &SessionInfo {
        self.sessions
            .get(&s)
            .unwrap_or_else(|| panic!("session {s} is unknown to the driver"))
    }

    fn realm(&self, name: &str) -> &RealmConfig {
        self.realms
            .get(name)
            .unwrap_or_else(|| panic!("realm {name:?} is unknown to the driver"))
    }

    fn publication(&self, tag: usize, what: &dyn std::fmt::Debug) -> &Publication {
        match self.sent.get(tag) {
            Some(Sent::Publication(p)) => p,
            other => panic!("{what:?} carries the payload of {other:?}, not of a publication"),
        }
    }

    fn call(&self, tag: usize, what: &dyn std::fmt::Debug) -> &CallSent {
        match self.sent.get(tag) {
            Some(Sent::Call(c)) => c,
            other => panic!("{what:?} carries the payload of {other:?}, not of a CALL"),
        }
    }

    fn answer(&self, tag: usize, what: &dyn std::fmt::Debug) -> &AnswerSent {
        match self.sent.get(tag) {
            Some(Sent::Answer(a)) => a,
            other => panic!("{what:?} carries the payload of {other:?}, not of a callee's answer"),
        }
    }

    /// The CALL a callee's answer answers, once the callee has read its INVOCATION.
    fn call_of(&self, a: &AnswerSent) -> Option<&CallSent> {
        let tag = self.invoked.get(&(a.session?, a.invocation))?;
        match self.sent.get(*tag) {
            Some(Sent::Call(c)) => Some(c),
            _ => None,
        }
    }

    fn saw_publication(&mut self, p: PublicationId) {
        if self.publications.len() == 16 {
            self.publications.pop_front();
        }
        self.publications.push_back(p);
    }
}

// ---- the client model ----------------------------------------------------------------------

#[derive(Debug, Clone)]
struct SubInfo {
    uri: Uri,
    policy: MatchPolicy,
}

#[derive(Debug, Clone)]
struct RegInfo {
    uri: Uri,
    policy: MatchPolicy,
    forward_timeout: bool,
    disclose_caller: bool,
}

#[derive(Debug, Clone)]
struct MetaCall {
    procedure: String,
    args: Vec<Value>,
}

/// A request awaiting its answer.
#[derive(Debug)]
enum Pending {
    Subscribe {
        uri: Uri,
        policy: MatchPolicy,
        get_retained: bool,
    },
    Unsubscribe(u64),
    Register(RegInfo),
    Unregister(u64),
    Publish {
        exclude_me: bool,
    },
    Call {
        receive_progress: bool,
        /// A progressive call (the caller sends chunks).
        stream: bool,
        meta: Option<MetaCall>,
    },
}

/// An INVOCATION whose caller is still sending chunks.
#[derive(Debug)]
struct Chunked {
    registration: RegistrationId,
    caller: ConnectionId,
    caller_session: Option<SessionId>,
    request: u64,
}

/// What a client knows of its session, from what it sent and what it received.
#[derive(Debug, Default)]
struct Model {
    in_session: bool,
    session: Option<SessionId>,
    /// ABORT received: the router must send nothing more.
    aborted: bool,
    roles: ClientRoles,
    /// Requests awaiting their answer: (request type code, request ID) → one entry per
    /// request sent, in order.
    requests: BTreeMap<(u64, u64), VecDeque<Pending>>,
    subscriptions: BTreeMap<SubscriptionId, SubInfo>,
    registrations: BTreeMap<RegistrationId, RegInfo>,
    /// INVOCATIONs received and not yet answered by this client.
    invocations: BTreeSet<u64>,
    last_invocation: u64,
    chunked: BTreeMap<u64, Chunked>,
    /// Invocations this client answered in passthru mode.
    ppt_answered: BTreeSet<u64>,
    events: BTreeSet<(SubscriptionId, PublicationId)>,
    /// The subscription whose retained EVENTs may follow (right after its SUBSCRIBED), and
    /// the topics of those received so far.
    retained_window: Option<(SubscriptionId, BTreeSet<Uri>)>,
    /// This client's progressive calls still open (it has not sent the last chunk nor read
    /// the answer): request ID → procedure.
    streams: BTreeMap<u64, Uri>,
    /// Every request ID of a progressive call this session started.
    stream_ids: BTreeSet<u64>,
    progressive_starts: usize,
}

impl Model {
    fn end_session(&mut self) {
        let aborted = self.aborted;
        *self = Model::default();
        self.aborted = aborted;
    }

    fn expect(&mut self, kind: RequestType, request: u64, pending: Pending) {
        self.requests
            .entry((kind.code(), request))
            .or_default()
            .push_back(pending);
    }

    /// Takes the oldest outstanding request of `kind` with ID `request`.
    fn answer(&mut self, kind: RequestType, request: RequestId, what: &Message) -> Pending {
        let key = (kind.code(), request.get());
        let Some(queue) = self.requests.get_mut(&key) else {
            panic!("{what:?} answers no outstanding {kind:?} request {request}");
        };
        let pending = queue.pop_front().expect("non-empty");
        if queue.is_empty() {
            self.requests.remove(&key);
        }
        pending
    }

    fn outstanding(&self, kind: RequestType) -> Vec<u64> {
        self.requests
            .keys()
            .filter(|(k, _)| *k == kind.code())
            .map(|(_, r)| *r)
            .collect()
    }

    fn me(&self) -> SessionId {
        self.session.expect("in a session")
    }

    /// Checks one message the router sent and follows it.
    fn receive(&mut self, conn: ConnectionId, m: &Message, w: &mut World) {
        trace!("    {conn:?} <- {}", summary(m));
        assert!(!self.aborted, "{conn:?} got {m:?} after ABORT");
        let window = self.retained_window.take();
        match m {
            Message::Welcome(welcome) => {
                assert!(
                    !self.in_session,
                    "{conn:?} got WELCOME inside a session: {m:?}"
                );
                let info = w
                    .sessions
                    .get_mut(&welcome.session)
                    .unwrap_or_else(|| panic!("{conn:?}: {m:?} for a session never seen"));
                assert_eq!(info.conn, conn, "{m:?} for another connection's session");
                let d = &welcome.details;
                assert_eq!(d.realm.as_deref(), Some(info.realm.as_str()), "{m:?}");
                assert_eq!(d.authrole.as_deref(), Some(info.authrole.as_str()), "{m:?}");
                match &info.authid {
                    Some(authid) => assert_eq!(d.authid.as_ref(), Some(authid), "{m:?}"),
                    None => info.authid = Some(d.authid.clone().expect("WELCOME has an authid")),
                }
                self.roles = info.roles.clone();
                self.in_session = true;
                self.session = Some(welcome.session);
            }
            Message::Challenge(_) => {
                assert!(!self.in_session, "{conn:?} got CHALLENGE inside a session");
            }
            Message::Abort(_) => {
                self.end_session();
                self.aborted = true;
            }
            Message::Goodbye(g) => {
                assert!(
                    self.in_session,
                    "{conn:?} got GOODBYE outside a session: {m:?}"
                );
                assert!(
                    GOODBYE_REASONS.contains(&g.reason.as_str()),
                    "{conn:?}: GOODBYE with an unexpected reason: {m:?}"
                );
                self.end_session();
            }
            other => {
                assert!(
                    self.in_session,
                    "{conn:?} got a session message outside a session: {other:?}"
                );
                self.receive_in_session(conn, other, w, window);
            }
        }
    }

    fn receive_in_session(
        &mut self,
        conn: ConnectionId,
        m: &Message,
        w: &mut World,
        window: Option<(SubscriptionId, BTreeSet<Uri>)>,
    ) {
        match m {
            Message::Subscribed(s) => {
                let Pending::Subscribe {
                    uri,
                    policy,
                    get_retained,
                } = self.answer(RequestType::Subscribe, s.request, m)
                else {
                    unreachable!()
                };
                if let Some(known) = w.subs.get(&s.subscription) {
                    assert_eq!(
                        known,
                        &(uri.clone(), policy),
                        "{conn:?}: {m:?} gives the ID of another subscription"
                    );
                }
                w.subs.insert(s.subscription, (uri.clone(), policy));
                self.subscriptions
                    .insert(s.subscription, SubInfo { uri, policy });
                if get_retained {
                    self.retained_window = Some((s.subscription, BTreeSet::new()));
                }
            }
            Message::Unsubscribed(u) => {
                let sub = match u.request {
                    Some(request) => {
                        let Pending::Unsubscribe(sub) =
                            self.answer(RequestType::Unsubscribe, request, m)
                        else {
                            unreachable!()
                        };
                        id(sub)
                    }
                    None => {
                        assert!(
                            has(&self.roles.subscriber, features::SUBSCRIPTION_REVOCATION),
                            "{conn:?}: {m:?} to a subscriber that did not announce subscription_revocation"
                        );
                        u.details
                            .subscription
                            .unwrap_or_else(|| panic!("{conn:?}: {m:?} names no subscription"))
                    }
                };
                assert!(
                    self.subscriptions.remove(&sub).is_some(),
                    "{conn:?}: {m:?} ends subscription {sub}, which it did not hold"
                );
            }
            Message::Registered(r) => {
                let Pending::Register(info) = self.answer(RequestType::Register, r.request, m)
                else {
                    unreachable!()
                };
                if let Some(known) = w.regs.get(&r.registration) {
                    assert_eq!(
                        known,
                        &(info.uri.clone(), info.policy),
                        "{conn:?}: {m:?} gives the ID of another registration"
                    );
                }
                w.regs
                    .insert(r.registration, (info.uri.clone(), info.policy));
                self.registrations.insert(r.registration, info);
            }
            Message::Unregistered(u) => {
                let reg = match u.request {
                    Some(request) => {
                        let Pending::Unregister(reg) =
                            self.answer(RequestType::Unregister, request, m)
                        else {
                            unreachable!()
                        };
                        id(reg)
                    }
                    None => {
                        assert!(
                            has(&self.roles.callee, features::REGISTRATION_REVOCATION),
                            "{conn:?}: {m:?} to a callee that did not announce registration_revocation"
                        );
                        u.details
                            .registration
                            .unwrap_or_else(|| panic!("{conn:?}: {m:?} names no registration"))
                    }
                };
                assert!(
                    self.registrations.remove(&reg).is_some(),
                    "{conn:?}: {m:?} ends registration {reg}, which it did not hold"
                );
            }
            Message::Published(p) => {
                let Pending::Publish { exclude_me } =
                    self.answer(RequestType::Publish, p.request, m)
                else {
                    unreachable!()
                };
                if exclude_me {
                    // The EVENTs of a publication are queued before its PUBLISHED.
                    assert!(
                        !self.events.iter().any(|(_, p2)| *p2 == p.publication),
                        "{conn:?} got its own publication {} despite exclude_me",
                        p.publication
                    );
                }
                w.saw_publication(p.publication);
            }
            Message::Result(r) => self.result(conn, r, m, w),
            Message::Error(e) => self.error(conn, e, m, w),
            Message::Event(e) => self.event(conn, e, w, window),
            Message::Invocation(i) => self.invocation(conn, i, w),
            Message::Interrupt(i) => {
                assert!(
                    i.request.get() <= self.last_invocation,
                    "{conn:?}: {m:?} for an INVOCATION never sent"
                );
                assert!(
                    canceling(&self.roles.callee),
                    "{conn:?}: {m:?} to a callee that did not announce call_canceling"
                );
                assert!(
                    matches!(
                        i.options.mode,
                        Some(CancelMode::Kill | CancelMode::KillNoWait)
                    ),
                    "{conn:?}: {m:?} with a mode other than kill or killnowait"
                );
            }
            other => panic!("{conn:?}: the router sent a client's message: {other:?}"),
        }
    }

    fn result(&mut self, conn: ConnectionId, r: &CallResult, m: &Message, w: &World) {
        let progress = r.details.progress == Some(true);
        let tag = tag_of(&r.payload);
        if progress {
            let asked = self
                .requests
                .get(&(RequestType::Call.code(), r.request.get()))
                .is_some_and(|q| {
                    q.iter().any(|p| {
                        matches!(
                            p,
                            Pending::Call {
                                receive_progress: true,
                                ..
                            }
                        )
                    })
                });
            assert!(
                asked,
                "{conn:?}: progressive {m:?} for no outstanding call that asked for progress"
            );
        } else {
            let Pending::Call { stream, meta, .. } = self.answer(RequestType::Call, r.request, m)
            else {
                unreachable!()
            };
            if stream {
                self.streams.remove(&r.request.get());
            }
            match (&meta, tag) {
                (Some(meta), None) => return self.meta_result(conn, meta, r, w),
                (Some(_), Some(_)) => {
                    panic!("{conn:?}: {m:?} answers a meta procedure call with a callee's payload")
                }
                (None, None) => {
                    panic!(
                        "{conn:?}: {m:?} answers a call to a callee without the callee's payload"
                    )
                }
                (None, Some(_)) => {}
            }
        }
        let tag = tag.unwrap_or_else(|| panic!("{conn:?}: {m:?} without a YIELD's payload"));
        let a = w.answer(tag, m);
        assert!(a.error.is_none(), "{conn:?}: {m:?} relays a callee's ERROR");
        assert_eq!(
            a.progress, progress,
            "{conn:?}: {m:?} progressive unlike its YIELD {a:?}"
        );
        assert_eq!(ppt!(r.details), a.ppt, "{conn:?}: {m:?} for {a:?}");
        if a.ppt[0].is_some() {
            assert!(
                has(&self.roles.caller, features::PAYLOAD_PASSTHRU_MODE),
                "{conn:?}: passthru {m:?} to a caller that did not announce it"
            );
        }
        if let Some(c) = w.call_of(a) {
            assert_eq!(
                (c.conn, c.session, c.request),
                (conn, self.session, r.request.get()),
                "{conn:?}: {m:?} from {a:?} answers another call: {c:?}"
            );
            if progress {
                assert_eq!(c.options.receive_progress, Some(true), "{m:?} for {c:?}");
            }
        }
    }

    /// Checks the answers of a few meta procedures.
    fn meta_result(&self, conn: ConnectionId, meta: &MetaCall, r: &CallResult, w: &World) {
        let me = self.me();
        let my = w.session(me);
        let first = r.payload.args().first();
        match meta.procedure.as_str() {
            "wamp.session.list" => {
                let list = first
                    .and_then(Value::as_list)
                    .unwrap_or_else(|| panic!("{conn:?}: {r:?} is not a list of sessions"));
                for v in list {
                    let s = v.as_u64().and_then(SessionId::new).expect("a session ID");
                    if let Some(info) = w.sessions.get(&s) {
                        assert_eq!(
                            info.realm, my.realm,
                            "{r:?} lists session {s} of another realm"
                        );
                    }
                }
                let included = match meta.args.first() {
                    Some(Value::List(filter)) => filter
                        .iter()
                        .any(|f| f.as_str() == Some(my.authrole.as_str())),
                    _ => true,
                };
                assert_eq!(
                    list.contains(&Value::from(me)),
                    included,
                    "{conn:?}: {r:?} for {meta:?} and the caller {me} ({my:?})"
                );
            }
            "wamp.subscription.get_events" => {
                let sub = meta
                    .args
                    .first()
                    .and_then(Value::as_u64)
                    .and_then(SubscriptionId::new)
                    .unwrap_or_else(|| {
                        panic!("{conn:?}: {r:?} for {meta:?} without a subscription")
                    });
                let list = first
                    .and_then(Value::as_list)
                    .unwrap_or_else(|| panic!("{conn:?}: {r:?} is not a list of events"));
                let realm = w.realm(&my.realm);
                let never = realm.publisher_disclosure == Disclosure::Never;
                let kept: usize = realm.history.iter().map(|h| h.limit).sum();
                assert!(
                    list.len() <= kept,
                    "{conn:?}: {r:?} gives more events than the history keeps ({kept})"
                );
                let mut seen = BTreeSet::new();
                for event in list {
                    let d = event.as_dict().expect("an event is a dict");
                    assert_eq!(
                        d.get("subscription").and_then(Value::as_u64),
                        Some(sub.get()),
                        "{r:?}"
                    );
                    let Some(tag) = d
                        .get("args")
                        .and_then(Value::as_list)
                        .and_then(|a| tag_in(a))
                    else {
                        continue;
                    };
                    assert!(seen.insert(tag), "{conn:?}: {r:?} gives an event twice");
                    let p = w.publication(tag, r);
                    let publisher = p.session.expect("published in a session");
                    assert_eq!(w.session(publisher).realm, my.realm, "{r:?} gives {p:?}");
                    if let Some((pattern, policy)) = w.subs.get(&sub) {
                        assert!(
                            policy.matches(pattern.as_str(), p.topic.as_str()),
                            "{conn:?}: {r:?} gives {p:?}, not of subscription {sub}"
                        );
                    }
                    assert!(
                        p.options.exclude.is_none() && p.options.eligible.is_none(),
                        "{r:?} gives {p:?}, which restricted its audience by session"
                    );
                    assert!(
                        admits(&p.options, me, my.authid.as_deref(), &my.authrole),
                        "{conn:?}: {r:?} gives {p:?} to a caller it does not admit"
                    );
                    assert!(
                        !(never && p.options.disclose_me == Some(true)),
                        "{r:?} gives {p:?}, which the realm refuses"
                    );
                }
            }
            _ => {}
        }
    }

    fn error(&mut self, conn: ConnectionId, e: &Error, m: &Message, w: &World) {
        if e.request_type == RequestType::Invocation {
            assert!(
                self.ppt_answered.remove(&e.request.get()),
                "{conn:?}: the router sent {m:?} for an INVOCATION not answered in passthru mode"
            );
            assert_eq!(
                e.error.as_str(),
                "wamp.error.feature_not_supported",
                "{m:?}"
            );
            self.invocations.remove(&e.request.get());
            return;
        }
        let pending = self.answer(e.request_type, e.request, m);
        let Pending::Call { stream, meta, .. } = pending else {
            return;
        };
        if stream {
            self.streams.remove(&e.request.get());
        }
        let Some(tag) = tag_of(&e.payload) else {
            return;
        };
        // Relayed from a callee.
        assert!(
            meta.is_none(),
            "{conn:?}: {m:?} answers a meta procedure call with a callee's payload"
        );
        let a = w.answer(tag, m);
        assert_eq!(
            a.error.as_deref(),
            Some(e.error.as_str()),
            "{conn:?}: {m:?} relays {a:?}"
        );
        assert_eq!(ppt!(e.details), a.ppt, "{conn:?}: {m:?} relays {a:?}");
        if a.ppt[0].is_some() {
            assert!(
                has(&self.roles.caller, features::PAYLOAD_PASSTHRU_MODE),
                "{conn:?}: passthru {m:?} to a caller that did not announce it"
            );
        }
        if let Some(c) = w.call_of(a) {
            assert_eq!(
                (c.conn, c.session, c.request),
                (conn, self.session, e.request.get()),
                "{conn:?}: {m:?} from {a:?} answers another call: {c:?}"
            );
            let callee = w.session(a.session.expect("answered in a session"));
            if e.error.as_str() == "wamp.error.unavailable"
                && has(&callee.roles.callee, features::CALL_REROUTE)
            {
                assert!(
                    c.options.runmode.is_some() || c.options.progress == Some(true),
                    "{conn:?}: {m:?} relayed from a callee that announced call_reroute, for {c:?}"
                );
            }
        }
    }

    fn event(
        &mut self,
        conn: ConnectionId,
        e: &Event,
        w: &mut World,
        window: Option<(SubscriptionId, BTreeSet<Uri>)>,
    ) {
        let Some(sub) = self.subscriptions.get(&e.subscription).cloned() else {
            panic!(
                "{conn:?}: {e:?} for a subscription it does not hold ({:?})",
                self.subscriptions.keys()
            );
        };
        let retained = e.details.retained == Some(true);
        if retained {
            assert_eq!(
                window.as_ref().map(|(s, _)| *s),
                Some(e.subscription),
                "{conn:?}: retained {e:?} not right after the SUBSCRIBED of a SUBSCRIBE with get_retained"
            );
        } else {
            assert!(e.details.retained.is_none(), "{conn:?}: {e:?}");
            assert!(
                self.events.insert((e.subscription, e.publication)),
                "{conn:?}: {e:?} delivered twice"
            );
        }
        w.saw_publication(e.publication);
        let me = self.me();
        let my = w.session(me);
        let topic = if sub.policy == MatchPolicy::Exact {
            assert!(e.details.topic.is_none(), "{conn:?}: {e:?} for {sub:?}");
            sub.uri.clone()
        } else {
            let topic = e
                .details
                .topic
                .clone()
                .unwrap_or_else(|| panic!("{conn:?}: {e:?} for {sub:?} without its topic"));
            assert!(
                sub.policy.matches(sub.uri.as_str(), topic.as_str()),
                "{conn:?}: {e:?} does not match {sub:?}"
            );
            topic
        };
        if topic.is_reserved() {
            assert!(!retained, "{conn:?}: retained meta {e:?}");
            let details = EventDetails {
                topic: None,
                ..e.details.clone()
            };
            assert_eq!(details, EventDetails::default(), "{conn:?}: meta {e:?}");
            assert!(
                tag_of(&e.payload).is_none(),
                "{conn:?}: meta {e:?} with a tag"
            );
            return check_meta_event(conn, &topic, e, my, w);
        }
        let tag = tag_of(&e.payload)
            .unwrap_or_else(|| panic!("{conn:?}: {e:?} without a publication's payload"));
        let p = w.publication(tag, e);
        assert_eq!(p.topic, topic, "{conn:?}: {e:?} for {p:?}");
        let publisher = p
            .session
            .unwrap_or_else(|| panic!("{conn:?}: {e:?} of {p:?}, sent outside a session"));
        let pinfo = w.session(publisher);
        assert_eq!(
            pinfo.realm, my.realm,
            "{conn:?}: {e:?} of {p:?} crosses realms"
        );
        let o = &p.options;
        let exclude_me = o.exclude_me != Some(false);
        if let Some((sub, mut topics)) = window.filter(|_| retained) {
            // One retained event per topic, and no more topics than the realm keeps.
            let max = w.realm(&my.realm).max_retained;
            assert!(
                topics.insert(topic.clone()) && topics.len() <= max,
                "{conn:?}: retained {e:?} after {topics:?} (max_retained {max})"
            );
            self.retained_window = Some((sub, topics));
        }
        if retained {
            assert_eq!(o.retain, Some(true), "{conn:?}: retained {e:?} of {p:?}");
            assert!(
                !(exclude_me && publisher == me),
                "{conn:?}: retained {e:?} of its own {p:?}"
            );
        } else if p.conn == conn {
            // A testament is published once its session has left the connection.
            assert!(
                !p.testament,
                "{conn:?}: {e:?} of {p:?} to its own connection"
            );
            assert_eq!(p.session, Some(me), "{conn:?}: {e:?} of {p:?}");
            assert!(!exclude_me, "{conn:?}: {e:?} of its own {p:?}");
        }
        assert!(
            admits(o, me, my.authid.as_deref(), &my.authrole),
            "{conn:?}: {e:?} of {p:?} to a session it does not admit ({my:?})"
        );
        let dm = o.disclose_me == Some(true);
        let disclose = match w.realm(&my.realm).publisher_disclosure {
            Disclosure::OnRequest => dm,
            Disclosure::Always => true,
            Disclosure::Never => {
                assert!(!dm, "{conn:?}: {e:?} of {p:?}, which the realm refuses");
                false
            }
        };
        let d = &e.details;
        assert_eq!(
            d.publisher,
            disclose.then_some(publisher),
            "{conn:?}: {e:?} of {p:?}"
        );
        assert_eq!(
            d.publisher_authrole.as_deref(),
            disclose.then_some(pinfo.authrole.as_str()),
            "{conn:?}: {e:?} of {p:?}"
        );
        match (&pinfo.authid, disclose) {
            (Some(authid), true) => assert_eq!(d.publisher_authid.as_ref(), Some(authid)),
            (None, true) => assert!(d.publisher_authid.is_some(), "{e:?}"),
            (_, false) => assert!(d.publisher_authid.is_none(), "{e:?}"),
        }
        assert_eq!(d.trustlevel, Some(pinfo.trust), "{conn:?}: {e:?} of {p:?}");
        assert_eq!(ppt!(d), ppt!(o), "{conn:?}: {e:?} of {p:?}");
    }

    fn invocation(&mut self, conn: ConnectionId, i: &Invocation, w: &mut World) {
        let r = i.request.get();
        let me = self.me();
        let tag = tag_of(&i.payload)
            .unwrap_or_else(|| panic!("{conn:?}: {i:?} without a CALL's payload"));
        let c = w.call(tag, i);
        let caller = c
            .session
            .unwrap_or_else(|| panic!("{conn:?}: {i:?} of {c:?}, sent outside a session"));
        let cinfo = w.session(caller);
        let my = w.session(me);
        assert_eq!(
            cinfo.realm, my.realm,
            "{conn:?}: {i:?} of {c:?} crosses realms"
        );
        if r != self.last_invocation + 1 {
            let Some(chunked) = self.chunked.get(&r) else {
                panic!(
                    "{conn:?}: {i:?} is neither the next INVOCATION ({}) nor a chunk of an open progressive invocation ({:?})",
                    self.last_invocation + 1,
                    self.chunked.keys()
                );
            };
            assert_eq!(chunked.registration, i.registration, "{conn:?}: {i:?}");
            assert!(
                c.continuation
                    && (c.conn, c.session, c.request)
                        == (chunked.caller, chunked.caller_session, chunked.request),
                "{conn:?}: chunk {i:?} of {c:?}, not a continuation of {chunked:?}"
            );
            let more = c.options.progress == Some(true);
            let expected = InvocationDetails {
                progress: more.then_some(true),
                ..Default::default()
            };
            assert_eq!(i.details, expected, "{conn:?}: chunk {i:?} of {c:?}");
            if !more {
                self.chunked.remove(&r);
            }
            return;
        }
        assert!(
            !c.continuation,
            "{conn:?}: {i:?} starts an invocation for the continuation {c:?}"
        );
        let Some(reg) = self.registrations.get(&i.registration) else {
            panic!(
                "{conn:?}: {i:?} for a registration it does not hold ({:?})",
                self.registrations.keys()
            );
        };
        assert!(
            !c.procedure.is_reserved()
                && reg.policy.matches(reg.uri.as_str(), c.procedure.as_str()),
            "{conn:?}: {i:?} of {c:?} for {reg:?}"
        );
        let o = &c.options;
        match o.runmode.as_deref() {
            None => {}
            Some("partition") => assert!(o.rkey.is_some(), "{i:?} of {c:?}"),
            Some(other) => panic!("{conn:?}: {i:?} of {c:?} with runmode {other}"),
        }
        let role = &self.roles.callee;
        let disclose = match w.realm(&my.realm).caller_disclosure {
            Disclosure::Never => {
                assert_ne!(
                    o.disclose_me,
                    Some(true),
                    "{conn:?}: {i:?} of refused {c:?}"
                );
                false
            }
            Disclosure::Always => true,
            Disclosure::OnRequest => o.disclose_me == Some(true) || reg.disclose_caller,
        };
        let d = &i.details;
        // A call invoked before, re-routed here after another callee answered
        // wamp.error.unavailable: everything must be as if it had come here first.
        let rerouted = w.invoked_calls.contains(&tag);
        let what = format!(
            "{conn:?}: {}{i:?} of {c:?} for {reg:?} (callee roles {role:?})",
            if rerouted { "re-routed " } else { "" }
        );
        assert_eq!(d.caller, disclose.then_some(caller), "{what}");
        assert_eq!(
            d.caller_authrole.as_deref(),
            disclose.then_some(cinfo.authrole.as_str()),
            "{what}"
        );
        match (&cinfo.authid, disclose) {
            (Some(authid), true) => assert_eq!(d.caller_authid.as_ref(), Some(authid), "{what}"),
            (None, true) => assert!(d.caller_authid.is_some(), "{what}"),
            (_, false) => assert!(d.caller_authid.is_none(), "{what}"),
        }
        assert_eq!(d.trustlevel, Some(cinfo.trust), "{what}");
        let timeout = o
            .timeout
            .filter(|t| *t > 0)
            .filter(|_| reg.forward_timeout && has(role, features::CALL_TIMEOUT));
        assert_eq!(d.timeout, timeout, "{what}");
        let receive_progress = o.receive_progress == Some(true) && progressive_results(role);
        assert_eq!(
            d.receive_progress,
            receive_progress.then_some(true),
            "{what}"
        );
        let streaming = o.progress == Some(true);
        assert_eq!(d.progress, streaming.then_some(true), "{what}");
        if streaming {
            assert!(
                has(role, features::PROGRESSIVE_CALL_INVOCATIONS) && canceling(role),
                "{what}"
            );
        }
        let pattern = reg.policy != MatchPolicy::Exact;
        assert_eq!(d.procedure, pattern.then(|| c.procedure.clone()), "{what}");
        assert_eq!(ppt!(d), ppt!(o), "{what}");
        if o.ppt_scheme.is_some() {
            assert!(has(role, features::PAYLOAD_PASSTHRU_MODE), "{what}");
        }
        let chunked = Chunked {
            registration: i.registration,
            caller: c.conn,
            caller_session: c.session,
            request: c.request,
        };
        self.last_invocation = r;
        self.invocations.insert(r);
        if streaming {
            self.chunked.insert(r, chunked);
        }
        w.invoked.insert((me, r), tag);
        w.invoked_calls.insert(tag);
    }
}

fn check_meta_event(conn: ConnectionId, topic: &Uri, e: &Event, my: &SessionInfo, w: &World) {
    assert!(
        META_EVENTS.contains(&topic.as_str()),
        "{conn:?}: {e:?} on a meta topic the router does not publish"
    );
    let args = e.payload.args();
    let session = match topic.as_str() {
        "wamp.session.on_join" => args
            .first()
            .and_then(Value::as_dict)
            .and_then(|d| d.get("session")),
        _ => args.first(),
    };
    let session = session
        .and_then(Value::as_u64)
        .and_then(SessionId::new)
        .unwrap_or_else(|| panic!("{conn:?}: meta {e:?} names no session"));
    if let Some(info) = w.sessions.get(&session) {
        assert_eq!(
            info.realm, my.realm,
            "{conn:?}: meta {e:?} about a session of another realm"
        );
        if topic.as_str() == "wamp.session.on_leave" {
            assert_eq!(
                args.get(2).and_then(Value::as_str),
                Some(info.authrole.as_str()),
                "{conn:?}: {e:?} for {info:?}"
            );
        }
    }
}

/// A message for the trace: its `Debug` form without absent fields, shortened.
fn summary(m: &Message) -> String {
    let s = compact(&format!("{m:?}"));
    if s.chars().count() > 400 {
        format!("{}…", s.chars().take(400).collect::<String>())
    } else {
        s
    }
}

/// Drops `field: None` and `extra: {}` from a `Debug` form.
fn compact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        let none = rest.find(": None").map(|p| (p, ": None".len()));
        let extra = rest
            .find("extra: {}")
            .map(|p| (p + "extra".len(), ": {}".len()));
        let Some((pos, len)) = none.into_iter().chain(extra).min() else {
            break;
        };
        let start = rest[..pos]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        out.push_str(&rest[..start]);
        let after = &rest[pos + len..];
        rest = match after.strip_prefix(", ") {
            Some(after) => after,
            None => {
                if out.ends_with(", ") {
                    out.truncate(out.len() - 2);
                    out.push(' ');
                }
                after.trim_start()
            }
        };
    }
    out.push_str(rest);
    out
}

// ---- the driver ----------------------------------------------------------------------------

struct Client {
    conn: ConnectionId,
    /// The client does not read: `Transmit` is remembered, not drained.
    paused: bool,
    /// A `Transmit` came while paused.
    undrained: bool,
    /// The next request ID of the client's own sequential counter.
    next_request: u64,
    model: Model,
    transport: Option<&'static str>,
    /// The realm of the last HELLO, its roles, and the identity external authentication
    /// gave.
    realm: String,
    hello_roles: ClientRoles,
    identity: Option<(&'static str, &'static str)>,
    /// Every realm a session of this connection joined.
    realms: BTreeSet<String>,
}

struct Fuzz {
    router: Router,
    now: Instant,
    clients: Vec<Client>,
    /// Every connection that got `Close`, with its `messages_out` at that moment.
    closed: HashMap<ConnectionId, u64>,
    /// Connections with an `Authenticate` request not yet answered.
    auth: Vec<ConnectionId>,
    /// Tokens of `Authorize` requests not yet answered.
    authz: Vec<u64>,
    resolved_token: Option<u64>,
    realm2: bool,
    slow_subscriber: SlowSubscriberPolicy,
    world: World,
}

fn tiny_config(byte: u8) -> RouterConfig {
    let mut realm1 = RealmConfig::new(uri("realm1"));
    realm1.auth = AuthMode::External;
    realm1.authz = AuthzMode::External;
    RouterConfig {
        realms: vec![realm1, RealmConfig::new(uri("realm2"))],
        auto_create_realms: byte & 4 != 0,
        request_ids: RequestIdPolicy::Lenient,
        queue: QueueConfig {
            capacity: 2,
            hard_limit: 4,
            // Small enough that a few large events reach the byte bounds too.
            capacity_bytes: 512,
            hard_limit_bytes: 2048,
            slow_subscriber: if byte & 2 != 0 {
                SlowSubscriberPolicy::Disconnect
            } else {
                SlowSubscriberPolicy::Drop
            },
        },
        max_pending_messages: 3,
        ..RouterConfig::default()
    }
}

fn disclosure(bits: u8) -> Disclosure {
    match bits % 4 {
        1 => Disclosure::Always,
        2 => Disclosure::Never,
        _ => Disclosure::OnRequest,
    }
}

/// The advanced-profile realms (see the module documentation).
fn advanced_config(byte: u8) -> RouterConfig {
    let mut realm1 = RealmConfig::new(uri("realm1"));
    if byte & 2 != 0 {
        realm1.auth = AuthMode::External;
    }
    realm1.caller_disclosure = disclosure(byte >> 2);
    realm1.publisher_disclosure = disclosure(byte >> 4);
    realm1.trust = TrustLevels {
        default: 1,
        by_authrole: [("admin".to_owned(), 5), ("user".to_owned(), 3)].into(),
        by_transport: [("unix".to_owned(), 2), ("ws".to_owned(), 0)].into(),
    };
    realm1.history = vec![
        HistoryRule {
            uri: uri("a"),
            policy: MatchPolicy::Prefix,
            limit: 3,
        },
        HistoryRule {
            uri: uri("x.y"),
            policy: MatchPolicy::Exact,
            limit: 2,
        },
        HistoryRule {
            uri: uri("a..c"),
            policy: MatchPolicy::Wildcard,
            limit: 0,
        },
    ];
    realm1.max_retained = 2;
    realm1.slow_subscriber = Some(SlowSubscriberPolicy::DisconnectAfter(3));
    let mut realm2 = RealmConfig::new(uri("realm2"));
    realm2.caller_disclosure = Disclosure::Never;
    realm2.publisher_disclosure = Disclosure::Always;
    realm2.trust = TrustLevels {
        default: 7,
        by_authrole: Default::default(),
        by_transport: [("tcp".to_owned(), 4)].into(),
    };
    realm2.history = vec![HistoryRule {
        uri: uri(""),
        policy: MatchPolicy::Prefix,
        limit: 1,
    }];
    realm2.max_retained = 0;
    RouterConfig {
        realms: vec![realm1, realm2],
        request_ids: if byte & 64 != 0 {
            RequestIdPolicy::Lenient
        } else {
            RequestIdPolicy::Strict
        },
        queue: QueueConfig {
            capacity: 6,
            hard_limit: 12,
            capacity_bytes: 4096,
            hard_limit_bytes: 16384,
            slow_subscriber: SlowSubscriberPolicy::Drop,
        },
        max_testaments: 2,
        ..RouterConfig::default()
    }
}

fn garbage(input: &mut Input) -> Value {
    match input.byte() % 8 {
        0 => Value::Null,
        1 => Value::from("x"),
        2 => Value::Int(-1),
        3 => Value::UInt(0),
        4 => Value::Float(1.5),
        5 => Value::List(vec![Value::UInt(1)]),
        6 => Value::Bool(true),
        _ => Value::Dict(Dict::new()),
    }
}

/// Garbage that is neither null nor a list (so never read as arguments).
fn garbage_scalar(input: &mut Input) -> Value {
    match input.byte() % 3 {
        0 => Value::from("x"),
        1 => Value::Int(-1),
        _ => Value::Dict(Dict::new()),
    }
}

fn ppt_options(input: &mut Input) -> Ppt {
    let b = input.byte();
    [
        Some(if b & 1 != 0 { "mqtt" } else { "x_custom" }.to_owned()),
        (b & 2 != 0).then(|| "native".to_owned()),
        (b & 4 != 0).then(|| "xsalsa20poly1305".to_owned()),
        (b & 8 != 0).then(|| "k1".to_owned()),
    ]
}

macro_rules! set_ppt {
    ($o:expr, $ppt:expr) => {{
        let [scheme, serializer, cipher, keyid] = $ppt;
        $o.ppt_scheme = scheme;
        $o.ppt_serializer = serializer;
        $o.ppt_cipher = cipher;
        $o.ppt_keyid = keyid;
    }};
}

impl Fuzz {
    fn new(config_byte: u8) -> Fuzz {
        let now = Instant::now();
        let tiny = config_byte & 1 != 0;
        let advanced = !tiny && config_byte & 0x80 != 0;
        let config = if tiny {
            tiny_config(config_byte)
        } else if advanced {
            advanced_config(config_byte)
        } else {
            RouterConfig::with_realm(uri("realm1"))
        };
        trace!("config: {config:?}");
        let mut world = World::default();
        for realm in &config.realms {
            world
                .realms
                .insert(realm.name.as_str().to_owned(), realm.clone());
        }
        let slow_subscriber = config.queue.slow_subscriber;
        let mut router = Router::new(config, 42);
        if advanced {
            router.set_wall_clock(
                now,
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            );
        }
        Fuzz {
            router,
            now,
            clients: Vec::new(),
            closed: HashMap::new(),
            auth: Vec::new(),
            authz: Vec::new(),
            resolved_token: None,
            realm2: tiny || advanced,
            slow_subscriber,
            world,
        }
    }

    fn client_index(&self, conn: ConnectionId) -> Option<usize> {
        self.clients.iter().position(|c| c.conn == conn)
    }

    /// Records the sessions the router established since the last look.
    fn refresh_sessions(&mut self) {
        let Fuzz {
            router,
            clients,
            world,
            ..
        } = self;
        for c in clients.iter_mut() {
            let Some(session) = router.session_id(c.conn) else {
                continue;
            };
            if world.sessions.contains_key(&session) {
                continue;
            }
            let config = world
                .realms
                .entry(c.realm.clone())
                .or_insert_with(|| RealmConfig::new(uri(&c.realm)));
            let (authid, authrole) = match config.auth {
                AuthMode::External => {
                    let (authid, authrole) = c
                        .identity
                        .expect("an externally authenticated session has an identity");
                    (Some(authid.to_owned()), authrole.to_owned())
                }
                AuthMode::Anonymous => (None, "anonymous".to_owned()),
                AuthMode::Static(_) => {
                    unreachable!("no realm of this target authenticates statically")
                }
            };
            let trust = config.trust.level(&authrole, c.transport);
            c.realms.insert(c.realm.clone());
            let info = SessionInfo {
                conn: c.conn,
                realm: c.realm.clone(),
                authid,
                authrole,
                trust,
                roles: c.hello_roles.clone(),
            };
            trace!("    session {session}: {info:?}");
            world.sessions.insert(session, info);
        }
    }

    /// Drains every action, checking what the router sends.
    fn pump(&mut self) {
        while let Some(action) = self.router.poll_action() {
            match action {
                Action::Transmit(conn) => match self.client_index(conn) {
                    Some(i) if !self.clients[i].paused => self.drain(i),
                    Some(i) => self.clients[i].undrained = true,
                    None => assert!(
                        self.router.poll_transmit(conn).is_none(),
                        "a detached {conn:?} has messages"
                    ),
                },
                Action::Close(conn) => {
                    trace!("    Close({conn:?})");
                    assert!(
                        !self.closed.contains_key(&conn),
                        "{conn:?} got a second Close"
                    );
                    let i = self
                        .client_index(conn)
                        .unwrap_or_else(|| panic!("Close for {conn:?}, which is not attached"));
                    // The driver sends what is queued, then closes the transport.
                    self.drain(i);
                    let stats = self.router.connection_stats(conn).expect("attached");
                    assert_eq!(stats.queued, 0);
                    self.closed.insert(conn, stats.messages_out);
                }
                Action::Authenticate(request) => {
                    trace!("    Authenticate({:?})", request.connection);
                    assert!(
                        self.client_index(request.connection).is_some(),
                        "Authenticate for a detached connection: {request:?}"
                    );
                    assert!(
                        !self.closed.contains_key(&request.connection),
                        "Authenticate for a closed connection: {request:?}"
                    );
                    self.auth.push(request.connection);
                }
                Action::Authorize(request) => {
                    trace!(
                        "    Authorize(token {}, {:?}, {:?} {})",
                        request.token,
                        request.connection,
                        request.action,
                        request.uri
                    );
                    assert!(
                        self.client_index(request.connection).is_some(),
                        "Authorize for a detached connection: {request:?}"
                    );
                    self.authz.push(request.token);
                }
                // No connection of this target carries a cookie.
                Action::RememberCookie(grant) => panic!("unexpected cookie grant {grant:?}"),
                other => panic!("an action this target does not know: {other:?}"),
            }
        }
    }

    fn drain(&mut self, i: usize) {
        self.refresh_sessions();
        let conn = self.clients[i].conn;
        self.clients[i].undrained = false;
        while let Some(m) = self.router.poll_transmit(conn) {
            assert!(
                !self.closed.contains_key(&conn),
                "{conn:?} got {m:?} after its Close"
            );
            self.clients[i].model.receive(conn, &m, &mut self.world);
        }
    }

    /// How many EVENTs a session of `realm` may lose before its connection is closed.
    fn drop_limit(&self, realm: &str) -> Option<u64> {
        let policy = self
            .world
            .realms
            .get(realm)
            .and_then(|r| r.slow_subscriber)
            .unwrap_or(self.slow_subscriber);
        match policy {
            SlowSubscriberPolicy::Drop => None,
            SlowSubscriberPolicy::Disconnect => Some(1),
            SlowSubscriberPolicy::DisconnectAfter(n) => Some(n),
        }
    }

    /// Checks the router against the connections after an operation.
    fn check(&mut self) {
        self.refresh_sessions();
        assert_eq!(self.router.connection_count(), self.clients.len());
        let mut sessions = 0;
        for c in &self.clients {
            let session = self.router.session_id(c.conn);
            sessions += usize::from(session.is_some());
            let stats = self
                .router
                .connection_stats(c.conn)
                .expect("attached connection has stats");
            if let Some(&out) = self.closed.get(&c.conn) {
                assert_eq!(
                    stats.messages_out, out,
                    "{:?} had messages queued after its Close",
                    c.conn
                );
                assert!(session.is_none(), "closed {:?} still has a session", c.conn);
                continue;
            }
            if stats.queued == 0 {
                // The client has read everything: its idea of the session is the router's.
                assert_eq!(
                    c.model.in_session,
                    session.is_some(),
                    "{:?}: client and router disagree on the session",
                    c.conn
                );
                if c.model.in_session {
                    assert_eq!(c.model.session, session);
                }
            }
            // Every session of this connection was in a realm that disconnects slow
            // subscribers: past the largest limit, it must be closed.
            let limits: Option<Vec<u64>> = c.realms.iter().map(|r| self.drop_limit(r)).collect();
            if let Some(limit) = limits.and_then(|l| l.into_iter().max()) {
                assert!(
                    stats.dropped_events < limit,
                    "{:?} lost {} EVENTs (limit {limit}) and is still open",
                    c.conn,
                    stats.dropped_events
                );
            }
        }
        assert_eq!(self.router.session_count(), sessions);
    }

    fn live(&self) -> usize {
        self.clients.len()
    }

    fn send(&mut self, i: usize, message: Message) {
        let conn = self.clients[i].conn;
        trace!("  {conn:?} -> {}", summary(&message));
        self.router.handle_message(self.now, conn, message);
    }

    /// A request ID: mostly the client's next one, sometimes another.
    fn pick_request(&self, input: &mut Input, i: usize) -> u64 {
        let b = input.byte();
        let next = self.clients[i].next_request;
        match b % 16 {
            0 => 1 + u64::from(b / 16) % 4,
            1 => next + 1,
            2 => next.saturating_sub(1).max(1),
            _ => next,
        }
    }

    fn commit_request(&mut self, i: usize, request: u64) {
        let c = &mut self.clients[i];
        if request == c.next_request {
            c.next_request += 1;
        }
    }

    fn request_id(&mut self, input: &mut Input, i: usize) -> u64 {
        let request = self.pick_request(input, i);
        self.commit_request(i, request);
        request
    }

    fn run(&mut self, input: &mut Input) {
        let mut ops = 0;
        while !input.done() && ops < MAX_OPS {
            ops += 1;
            self.op(input);
            self.pump();
            self.check();
        }
        self.finish();
    }

    fn op(&mut self, input: &mut Input) {
        let opcode = input.byte() % 28;
        // Operations on a client pick one of the attached connections.
        let needs_client = !matches!(opcode, 0 | 2 | 18 | 19 | 20 | 21 | 23 | 26);
        if needs_client && self.live() == 0 {
            return;
        }
        let i = if needs_client {
            input.index(self.live())
        } else {
            0
        };
        match opcode {
            0 => self.attach(input),
            1 => {
                let conn = self.clients[i].conn;
                trace!("detach {conn:?}");
                self.router.detach(self.now, conn);
                self.clients.remove(i);
                self.auth.retain(|c| *c != conn);
            }
            2 => self.advance(input),
            3 => self.hello(input, i),
            4 => {
                let reason = input.pick(&["wamp.close.normal", "wamp.close.goodbye_and_out"]);
                self.send(i, Goodbye::new(reason).into());
            }
            5 => self.send(i, Abort::new("wamp.close.normal", "bye").into()),
            6 => self.publish(input, i),
            7 => self.subscribe(input, i),
            8 => self.unsubscribe(input, i),
            9 => self.register(input, i),
            10 => self.unregister(input, i),
            11 => self.call(input, i),
            12 => self.cancel(input, i),
            13 => self.yield_(input, i),
            14 => self.callee_error(input, i),
            15 => {
                let m = Authenticate {
                    signature: "secret".into(),
                    ..Default::default()
                };
                self.send(i, m.into());
            }
            16 => self.router_message(input, i),
            17 => {
                let conn = self.clients[i].conn;
                trace!("  {conn:?} decode error");
                let error = DecodeError::Syntax {
                    serializer: "json",
                    detail: "fuzz".into(),
                };
                self.router.handle_decode_error(self.now, conn, &error);
            }
            18 => {
                trace!("shutdown");
                self.router.shutdown(self.now);
            }
            19 => self.kill(input),
            20 => self.resolve_authentication(input),
            21 => self.resolve_authorization(input),
            22 => {
                let c = &mut self.clients[i];
                c.paused = !c.paused;
                trace!("{:?} paused: {}", c.conn, c.paused);
                if !c.paused && c.undrained {
                    self.drain(i);
                }
            }
            23 => {
                let result = self.router.add_realm(RealmConfig::new(uri("realm2")));
                trace!("add_realm realm2: {result:?}");
                assert_eq!(result.is_ok(), !self.realm2, "add_realm: {result:?}");
                if result.is_ok() {
                    self.world
                        .realms
                        .insert("realm2".to_owned(), RealmConfig::new(uri("realm2")));
                }
                self.realm2 = true;
            }
            24 => self.call_chunk(input, i),
            25 => self.meta_call(input, i),
            26 => self.revoke(input),
            27 => self.testament(input, i),
            _ => unreachable!(),
        }
    }

    fn attach(&mut self, input: &mut Input) {
        let serializer = input.pick(&Serializer::ALL);
        let transport = input.pick(TRANSPORTS);
        if self.live() >= MAX_CLIENTS {
            return;
        }
        let conn = self.router.attach(self.now, serializer);
        if let Some(label) = transport {
            self.router.set_transport(conn, label);
        }
        trace!("attach {conn:?} over {transport:?}");
        assert!(
            !self.closed.contains_key(&conn) && self.client_index(conn).is_none(),
            "attach reused {conn:?}"
        );
        self.clients.push(Client {
            conn,
            paused: false,
            undrained: false,
            next_request: 1,
            model: Model::default(),
            transport,
            realm: String::new(),
            hello_roles: ClientRoles::default(),
            identity: None,
            realms: BTreeSet::new(),
        });
    }

    fn advance(&mut self, input: &mut Input) {
        let step = input.pick(STEPS);
        self.now += step;
        trace!("advance {step:?}");
        self.router.handle_timeout(self.now);
        self.pump();
        if let Some(at) = self.router.poll_timeout() {
            assert!(
                at > self.now,
                "poll_timeout is {:?} before the now just handled",
                self.now - at
            );
        }
        if step >= HANDSHAKE_TIMEOUT {
            // Every handshake and GOODBYE deadline has passed.
            for c in &self.clients {
                assert!(
                    self.closed.contains_key(&c.conn) || self.router.session_id(c.conn).is_some(),
                    "{:?} is neither established nor closed after every deadline",
                    c.conn
                );
            }
        }
    }

    /// Roles, and the advanced features they announce: a mask byte drops some of them.
    fn roles(input: &mut Input) -> Option<ClientRoles> {
        let set = input.byte() % 8;
        let drop = input.byte();
        let keep = |bit: u8| drop & (1 << bit) == 0;
        let with = |list: &[(u8, &'static str)]| {
            Role::with_features(list.iter().filter(|(b, _)| keep(*b)).map(|(_, f)| *f))
        };
        let canceling = if drop & 0x80 != 0 {
            features::CALL_CANCELLING
        } else {
            features::CALL_CANCELING
        };
        let callee = with(&[
            (0, canceling),
            (1, features::PROGRESSIVE_CALL_RESULTS),
            (2, features::PROGRESSIVE_CALL_INVOCATIONS),
            (3, features::CALL_TIMEOUT),
            (4, features::CALL_REROUTE),
            (5, features::REGISTRATION_REVOCATION),
            (6, features::PAYLOAD_PASSTHRU_MODE),
        ]);
        let caller = with(&[
            (0, canceling),
            (2, features::PROGRESSIVE_CALL_INVOCATIONS),
            (6, features::PAYLOAD_PASSTHRU_MODE),
        ]);
        let subscriber = with(&[(5, features::SUBSCRIPTION_REVOCATION)]);
        let publisher = with(&[(6, features::PAYLOAD_PASSTHRU_MODE)]);
        match set {
            0..=2 => Some(ClientRoles {
                subscriber: Some(subscriber),
                publisher: Some(publisher),
                caller: Some(caller),
                callee: Some(callee),
                ..Default::default()
            }),
            3 => Some(ClientRoles {
                subscriber: Some(Role::default()),
                publisher: Some(Role::default()),
                caller: Some(Role::default()),
                callee: Some(Role::default()),
                ..Default::default()
            }),
            4 => Some(ClientRoles {
                caller: Some(caller),
                callee: Some(callee),
                ..Default::default()
            }),
            5 => Some(ClientRoles {
                subscriber: Some(subscriber),
                ..Default::default()
            }),
            6 => Some(ClientRoles::default()),
            _ => None,
        }
    }

    fn hello(&mut self, input: &mut Input, i: usize) {
        let realm = input.pick(REALMS);
        let roles = Fuzz::roles(input);
        let authmethods = match input.byte() % 8 {
            0 => Some(vec!["anonymous".to_owned()]),
            1 => Some(vec!["ticket".to_owned()]),
            2 => Some(vec![]),
            _ => None,
        };
        // A client starts a new session only once it has read the end of the last one.
        if self.clients[i].undrained {
            self.drain(i);
        }
        let c = &mut self.clients[i];
        c.next_request = 1;
        c.realm = realm.to_owned();
        c.hello_roles = roles.clone().unwrap_or_default();
        c.identity = None;
        let hello = Hello {
            realm: uri(realm),
            details: HelloDetails {
                roles,
                authmethods,
                authid: Some("alice".into()),
                ..Default::default()
            },
        };
        self.send(i, hello.into());
    }

    fn topic(input: &mut Input) -> Uri {
        uri(input.pick(TOPICS))
    }

    /// A topic to subscribe to: an application topic, or (a pattern of) meta topics.
    fn sub_topic(input: &mut Input) -> Uri {
        let b = input.byte();
        let b2 = usize::from(b / 4);
        if b % 4 == 0 {
            uri(META_TOPICS[b2 % META_TOPICS.len()])
        } else {
            uri(TOPICS[b2 % TOPICS.len()])
        }
    }

    fn match_policy(input: &mut Input) -> Option<MatchPolicy> {
        match input.byte() % 8 {
            0..=4 => None,
            5 => Some(MatchPolicy::Exact),
            6 => Some(MatchPolicy::Prefix),
            _ => Some(MatchPolicy::Wildcard),
        }
    }

    /// Every live session (as the router says), then sessions gone.
    fn session_ids(&self) -> Vec<SessionId> {
        let mut live: Vec<SessionId> = self
            .clients
            .iter()
            .filter_map(|c| self.router.session_id(c.conn))
            .collect();
        let gone = self
            .world
            .sessions
            .keys()
            .rev()
            .filter(|s| !live.contains(s))
            .take(2)
            .copied()
            .collect::<Vec<_>>();
        live.extend(gone);
        live
    }

    fn subscription_ids(&self) -> Vec<SubscriptionId> {
        let set: BTreeSet<SubscriptionId> = self
            .clients
            .iter()
            .flat_map(|c| c.model.subscriptions.keys().copied())
            .collect();
        set.into_iter().collect()
    }

    fn registration_ids(&self) -> Vec<RegistrationId> {
        let set: BTreeSet<RegistrationId> = self
            .clients
            .iter()
            .flat_map(|c| c.model.registrations.keys().copied())
            .collect();
        set.into_iter().collect()
    }

    /// One of `ids` (mostly), an unknown ID, or garbage.
    fn id_value<T: Copy + Into<Value>>(input: &mut Input, ids: &[T]) -> Value {
        let b = input.byte();
        match b % 8 {
            0 => garbage(input),
            1 => Value::from(12345u64),
            _ if ids.is_empty() => Value::from(12345u64),
            _ => ids[usize::from(b / 8) % ids.len()].into(),
        }
    }

    fn session_list(&self, input: &mut Input) -> Vec<SessionId> {
        let ids = self.session_ids();
        (0..input.byte() % 3)
            .map(|_| {
                let b = input.byte();
                if ids.is_empty() || b % 8 == 7 {
                    id(12345)
                } else {
                    ids[usize::from(b) % ids.len()]
                }
            })
            .collect()
    }

    fn strings(input: &mut Input, from: &[&str]) -> Vec<String> {
        (0..input.byte() % 3)
            .map(|_| input.pick(from).to_owned())
            .collect()
    }

    fn publish_options(&self, input: &mut Input) -> PublishOptions {
        let f = input.byte();
        let lists = input.byte();
        let mut o = PublishOptions {
            acknowledge: (f & 1 != 0).then_some(true),
            exclude_me: match (f >> 1) % 4 {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            },
            disclose_me: (f & 8 != 0).then_some(true),
            retain: (f & 16 != 0).then_some(true),
            ..Default::default()
        };
        if f & 32 != 0 {
            o.rkey = Some(input.pick(RKEYS).to_owned());
        }
        if f & 64 != 0 {
            set_ppt!(o, ppt_options(input));
        }
        if lists & 1 != 0 {
            o.eligible = Some(self.session_list(input));
        }
        if lists & 2 != 0 {
            o.exclude = Some(self.session_list(input));
        }
        if lists & 4 != 0 {
            o.eligible_authid = Some(Fuzz::strings(input, AUTHIDS));
        }
        if lists & 8 != 0 {
            o.exclude_authid = Some(Fuzz::strings(input, AUTHIDS));
        }
        if lists & 16 != 0 {
            o.eligible_authrole = Some(Fuzz::strings(input, AUTHROLES));
        }
        if lists & 32 != 0 {
            o.exclude_authrole = Some(Fuzz::strings(input, AUTHROLES));
        }
        o
    }

    fn publish(&mut self, input: &mut Input, i: usize) {
        let request = self.request_id(input, i);
        let topic = Fuzz::topic(input);
        let options = self.publish_options(input);
        if options.acknowledge == Some(true) {
            let exclude_me = options.exclude_me != Some(false);
            self.clients[i].model.expect(
                RequestType::Publish,
                request,
                Pending::Publish { exclude_me },
            );
        }
        let conn = self.clients[i].conn;
        let tag = self.world.tag(Sent::Publication(Publication {
            conn,
            session: self.router.session_id(conn),
            topic: topic.clone(),
            options: options.clone(),
            testament: false,
        }));
        let m = Publish::new(id(request), topic)
            .with_options(options)
            .with_args(vec![tag]);
        self.send(i, m.into());
    }

    fn subscribe(&mut self, input: &mut Input, i: usize) {
        let request = self.request_id(input, i);
        let topic = Fuzz::sub_topic(input);
        let policy = Fuzz::match_policy(input);
        let f = input.byte();
        let options = SubscribeOptions {
            match_policy: policy,
            get_retained: (f & 1 != 0).then_some(true),
            nkey: (f & 2 != 0).then(|| NKEYS[usize::from(f >> 2) % NKEYS.len()].to_owned()),
            ..Default::default()
        };
        self.clients[i].model.expect(
            RequestType::Subscribe,
            request,
            Pending::Subscribe {
                uri: topic.clone(),
                policy: policy.unwrap_or_default(),
                get_retained: f & 1 != 0,
            },
        );
        let m = Subscribe {
            request: id(request),
            options,
            topic,
        };
        self.send(i, m.into());
    }

    /// One of `held` (mostly), or a made-up ID.
    fn held_or_bogus(input: &mut Input, held: &[u64]) -> u64 {
        let b = input.byte();
        if !held.is_empty() && b % 4 != 3 {
            held[usize::from(b / 4) % held.len()]
        } else {
            1 + u64::from(b / 4) % 3
        }
    }

    fn unsubscribe(&mut self, input: &mut Input, i: usize) {
        let request = self.request_id(input, i);
        let held: Vec<u64> = self.clients[i]
            .model
            .subscriptions
            .keys()
            .map(|s| s.get())
            .collect();
        let sub = Fuzz::held_or_bogus(input, &held);
        self.clients[i]
            .model
            .expect(RequestType::Unsubscribe, request, Pending::Unsubscribe(sub));
        let m = Unsubscribe {
            request: id(request),
            subscription: id(sub),
        };
        self.send(i, m.into());
    }

    fn register(&mut self, input: &mut Input, i: usize) {
        let request = self.request_id(input, i);
        let procedure = Fuzz::topic(input);
        let match_policy = Fuzz::match_policy(input);
        let invoke = match input.byte() % 8 {
            0 => Some(InvokePolicy::Single),
            1 => Some(InvokePolicy::RoundRobin),
            2 => Some(InvokePolicy::Random),
            3 => Some(InvokePolicy::First),
            4 => Some(InvokePolicy::Last),
            _ => None,
        };
        let f = input.byte();
        let disclose_caller = f & 1 != 0;
        let forward_timeout = f & 2 != 0;
        self.clients[i].model.expect(
            RequestType::Register,
            request,
            Pending::Register(RegInfo {
                uri: procedure.clone(),
                policy: match_policy.unwrap_or_default(),
                forward_timeout,
                disclose_caller,
            }),
        );
        let m = Register {
            request: id(request),
            options: RegisterOptions {
                match_policy,
                invoke,
                disclose_caller: disclose_caller.then_some(true),
                forward_timeout: forward_timeout.then_some(true),
                ..Default::default()
            },
            procedure,
        };
        self.send(i, m.into());
    }

    fn unregister(&mut self, input: &mut Input, i: usize) {
        let request = self.request_id(input, i);
        let held: Vec<u64> = self.clients[i]
            .model
            .registrations
            .keys()
            .map(|s| s.get())
            .collect();
        let reg = Fuzz::held_or_bogus(input, &held);
        self.clients[i]
            .model
            .expect(RequestType::Unregister, request, Pending::Unregister(reg));
        let m = Unregister {
            request: id(request),
            registration: id(reg),
        };
        self.send(i, m.into());
    }

    /// Sends a CALL as a client does: with the request ID of one of its progressive calls
    /// still open, it is a continuation (no answer of its own); otherwise a new call, unless
    /// its ID is that of an earlier progressive call (which the router may take for a late
    /// continuation): then nothing is sent. `args` is the payload of a meta procedure
    /// call; without it the payload is a tag.
    fn send_call(
        &mut self,
        i: usize,
        request: u64,
        procedure: Uri,
        mut options: CallOptions,
        args: Option<(Vec<Value>, Dict)>,
    ) {
        let conn = self.clients[i].conn;
        let model = &mut self.clients[i].model;
        let continuation = model.streams.contains_key(&request);
        if continuation {
            if options.progress != Some(true) {
                model.streams.remove(&request);
            }
        } else {
            if model.stream_ids.contains(&request) {
                trace!("  {conn:?} does not reuse request {request} of a progressive call");
                return;
            }
            let mut stream = options.progress == Some(true);
            if stream && model.progressive_starts >= MAX_STREAMS {
                options.progress = None;
                stream = false;
            }
            if stream {
                model.progressive_starts += 1;
                model.streams.insert(request, procedure.clone());
                model.stream_ids.insert(request);
            }
            let meta = procedure.is_reserved().then(|| MetaCall {
                procedure: procedure.as_str().to_owned(),
                args: args.as_ref().map(|(a, _)| a.clone()).unwrap_or_default(),
            });
            model.expect(
                RequestType::Call,
                request,
                Pending::Call {
                    receive_progress: options.receive_progress == Some(true),
                    stream,
                    meta,
                },
            );
            self.commit_request(i, request);
        }
        let m = Call::new(id(request), procedure.clone()).with_options(options.clone());
        let m = match args {
            Some((args, kwargs)) => m.with_args(args).with_kwargs(kwargs),
            None => {
                let tag = self.world.tag(Sent::Call(CallSent {
                    conn,
                    session: self.router.session_id(conn),
                    request,
                    procedure,
                    options,
                    continuation,
                }));
                m.with_args(vec![tag])
            }
        };
        self.send(i, m.into());
    }

    fn call(&mut self, input: &mut Input, i: usize) {
        let request = self.pick_request(input, i);
        let procedure = Fuzz::topic(input);
        let f = input.byte();
        let g = input.byte();
        let mut options = CallOptions {
            receive_progress: (f % 4 == 0).then_some(true),
            progress: (f & 4 != 0).then_some(true),
            disclose_me: (f & 8 != 0).then_some(true),
            timeout: [
                None,
                None,
                None,
                Some(0),
                Some(1),
                Some(100),
                Some(1000),
                Some(60000),
            ][usize::from(f >> 4) % 8],
            ..Default::default()
        };
        if f & 0x80 != 0 {
            set_ppt!(options, ppt_options(input));
        }
        match g % 8 {
            0 => {
                options.runmode = Some("partition".into());
                options.rkey = Some(RKEYS[usize::from(g >> 3) % RKEYS.len()].to_owned());
            }
            1 => options.runmode = Some("partition".into()),
            2 => options.runmode = Some("bogus".into()),
            _ => {}
        }
        self.send_call(i, request, procedure, options, None);
    }

    /// The next chunk of one of the client's progressive calls (sometimes naming another
    /// procedure, a protocol violation).
    fn call_chunk(&mut self, input: &mut Input, i: usize) {
        let streams: Vec<(u64, Uri)> = self.clients[i]
            .model
            .streams
            .iter()
            .map(|(r, p)| (*r, p.clone()))
            .collect();
        let b = input.byte();
        let other = Fuzz::topic(input);
        let more = input.byte() % 3 != 0;
        if streams.is_empty() {
            return;
        }
        let (request, mut procedure) = streams[usize::from(b / 16) % streams.len()].clone();
        if b % 16 == 15 {
            procedure = other;
        }
        let options = CallOptions {
            progress: more.then_some(true),
            ..Default::default()
        };
        self.send_call(i, request, procedure, options, None);
    }

    fn cancel(&mut self, input: &mut Input, i: usize) {
        let calls = self.clients[i].model.outstanding(RequestType::Call);
        let request = Fuzz::held_or_bogus(input, &calls);
        let mode = match input.byte() % 4 {
            0 => None,
            1 => Some(CancelMode::Skip),
            2 => Some(CancelMode::Kill),
            _ => Some(CancelMode::KillNoWait),
        };
        let m = Cancel {
            request: id(request),
            options: CancelOptions {
                mode,
                ..Default::default()
            },
        };
        self.send(i, m.into());
    }

    /// An invocation to answer: mostly one the client holds, sometimes another (including
    /// one never sent).
    fn invocation(&mut self, input: &mut Input, i: usize) -> u64 {
        let model = &self.clients[i].model;
        let held: Vec<u64> = model.invocations.iter().copied().collect();
        let b = input.byte();
        if !held.is_empty() && b % 8 < 6 {
            held[usize::from(b / 8) % held.len()]
        } else if b % 8 == 7 {
            model.last_invocation + 1
        } else {
            1 + u64::from(b / 8) % 3
        }
    }

    fn answer_tag(
        &mut self,
        i: usize,
        invocation: u64,
        progress: bool,
        error: Option<&str>,
        ppt: &Ppt,
    ) -> Value {
        let conn = self.clients[i].conn;
        if ppt[0].is_some() {
            self.clients[i].model.ppt_answered.insert(invocation);
        }
        self.world.tag(Sent::Answer(AnswerSent {
            session: self.router.session_id(conn),
            invocation,
            progress,
            error: error.map(str::to_owned),
            ppt: ppt.clone(),
        }))
    }

    fn yield_(&mut self, input: &mut Input, i: usize) {
        let request = self.invocation(input, i);
        let f = input.byte();
        let progress = f % 4 == 0;
        let ppt = if f & 4 != 0 {
            ppt_options(input)
        } else {
            Default::default()
        };
        if !progress {
            self.clients[i].model.invocations.remove(&request);
        }
        let tag = self.answer_tag(i, request, progress, None, &ppt);
        let mut options = YieldOptions {
            progress: progress.then_some(true),
            ..Default::default()
        };
        set_ppt!(options, ppt);
        let m = Yield {
            request: id(request),
            options,
            payload: Payload::default(),
        }
        .with_args(vec![tag]);
        self.send(i, m.into());
    }

    fn callee_error(&mut self, input: &mut Input, i: usize) {
        let request = self.invocation(input, i);
        let b = input.byte();
        let request_type = match b % 16 {
            0 => RequestType::Call,
            1 => RequestType::Subscribe,
            _ => RequestType::Invocation,
        };
        let error = if b & 16 != 0 {
            "wamp.error.unavailable"
        } else {
            "com.example.error"
        };
        let ppt = if b & 32 != 0 {
            ppt_options(input)
        } else {
            Default::default()
        };
        if request_type == RequestType::Invocation {
            self.clients[i].model.invocations.remove(&request);
        }
        let tag = if request_type == RequestType::Invocation {
            self.answer_tag(i, request, false, Some(error), &ppt)
        } else {
            Value::from("not an answer")
        };
        let mut m = Error::new(request_type, id(request), error).with_args(vec![tag]);
        set_ppt!(m.details, ppt);
        self.send(i, m.into());
    }

    /// The keyword arguments `reason` and `message` of the kill procedures.
    fn close_kwargs(input: &mut Input, kwargs: &mut Dict) {
        let b = input.byte();
        let reason = match b % 8 {
            0 | 1 | 2 => None,
            3 | 4 => Some(Value::from("wamp.close.killed")),
            5 => Some(Value::from("com.example.kicked")),
            6 => Some(Value::from("a b")),
            _ => Some(Value::Int(5)),
        };
        if let Some(reason) = reason {
            kwargs.insert("reason".into(), reason);
        }
        match (b >> 3) % 4 {
            1 => {
                kwargs.insert("message".into(), Value::from("bye"));
            }
            2 => {
                kwargs.insert("message".into(), Value::Int(3));
            }
            _ => {}
        }
    }

    /// The filters of `wamp.subscription.get_events`.
    fn history_kwargs(&self, input: &mut Input, kwargs: &mut Dict) {
        let mask = input.byte();
        let publications: Vec<PublicationId> = self.world.publications.iter().copied().collect();
        if mask & 1 != 0 {
            let v = if input.byte() % 4 == 0 {
                garbage(input)
            } else {
                Value::Bool(true)
            };
            kwargs.insert("reverse".into(), v);
        }
        if mask & 2 != 0 {
            let b = input.byte();
            let v = if b % 4 == 3 {
                garbage(input)
            } else {
                Value::from(u64::from(b % 4))
            };
            kwargs.insert("limit".into(), v);
        }
        if mask & 4 != 0 {
            kwargs.insert("topic".into(), Value::from(input.pick(TOPICS)));
        }
        const PUBLICATION_KEYS: &[&str] = &[
            "from_publication",
            "after_publication",
            "before_publication",
            "until_publication",
        ];
        const TIME_KEYS: &[&str] = &["from_time", "after_time", "before_time", "until_time"];
        if mask & 8 != 0 {
            let key = input.pick(PUBLICATION_KEYS);
            let v = Fuzz::id_value(input, &publications);
            kwargs.insert(key.into(), v);
        }
        if mask & 16 != 0 {
            let key = input.pick(PUBLICATION_KEYS);
            let v = Fuzz::id_value(input, &publications);
            kwargs.insert(key.into(), v);
        }
        if mask & 32 != 0 {
            let key = input.pick(TIME_KEYS);
            kwargs.insert(key.into(), Value::from(input.pick(TIMES)));
        }
        if mask & 64 != 0 {
            let key = input.pick(TIME_KEYS);
            kwargs.insert(key.into(), garbage(input));
        }
    }

    /// Arguments for a meta procedure: real ones mostly, sometimes wrong or missing.
    fn meta_args(&self, input: &mut Input, procedure: &str) -> (Vec<Value>, Dict) {
        let mut args = Vec::new();
        let mut kwargs = Dict::new();
        let registration = procedure.starts_with("wamp.registration.");
        // Untyped: the procedure decides whether they name registrations or subscriptions.
        let ids: Vec<Id> = if registration {
            self.registration_ids().into_iter().map(Id::from).collect()
        } else {
            self.subscription_ids().into_iter().map(Id::from).collect()
        };
        let sessions = self.session_ids();
        let name = procedure.rsplit('.').next().unwrap_or_default();
        let session = procedure.starts_with("wamp.session.");
        match name {
            "lookup" => {
                let b = input.byte();
                args.push(if b % 8 == 0 {
                    garbage(input)
                } else {
                    Value::from(input.pick(TOPICS))
                });
                let mut options = Dict::new();
                match (b >> 3) % 8 {
                    0 => {}
                    1 => args.push(Value::Null),
                    2 => {
                        options.insert("match".into(), Value::from("prefix"));
                        args.push(Value::Dict(options));
                    }
                    3 => {
                        options.insert("match".into(), Value::from("wildcard"));
                        args.push(Value::Dict(options));
                    }
                    4 => {
                        options.insert("match".into(), Value::from("exact"));
                        args.push(Value::Dict(options));
                    }
                    5 => {
                        options.insert("match".into(), garbage(input));
                        args.push(Value::Dict(options));
                    }
                    6 => args.push(garbage(input)),
                    _ => {}
                }
            }
            "match" => {
                args.push(if input.byte() % 8 == 0 {
                    garbage(input)
                } else {
                    Value::from(input.pick(TOPICS))
                });
            }
            "get" if session => args.push(Fuzz::id_value(input, &sessions)),
            "get" | "list_callees" | "count_callees" | "list_subscribers" | "count_subscribers" => {
                args.push(Fuzz::id_value(input, &ids))
            }
            "get_events" => {
                args.push(Fuzz::id_value(input, &ids));
                self.history_kwargs(input, &mut kwargs);
            }
            "remove_callee" | "remove_subscriber" => {
                args.push(Fuzz::id_value(input, &ids));
                args.push(Fuzz::id_value(input, &sessions));
                match input.byte() % 4 {
                    0 => {
                        kwargs.insert("reason".into(), Value::from("com.example.revoked"));
                    }
                    1 => {
                        kwargs.insert("reason".into(), Value::Int(1));
                    }
                    _ => {}
                }
            }
            "count" | "list" if session => match input.byte() % 8 {
                0 => args.push(Value::Null),
                1 => args.push(Value::List(vec![Value::from("anonymous")])),
                2 => args.push(Value::List(vec![Value::from("user"), Value::from("admin")])),
                3 => args.push(Value::List(vec![])),
                4 => args.push(Value::List(vec![Value::from("user"), Value::UInt(1)])),
                5 => args.push(garbage(input)),
                _ => {}
            },
            "kill" => {
                args.push(Fuzz::id_value(input, &sessions));
                Fuzz::close_kwargs(input, &mut kwargs);
            }
            "kill_by_authid" | "kill_by_authrole" => {
                let b = input.byte();
                args.push(match b % 8 {
                    0 => garbage(input),
                    1 => Value::from("anonymous"),
                    _ if name == "kill_by_authid" => Value::from(AUTHIDS[usize::from(b / 8) % 3]),
                    _ => Value::from(AUTHROLES[usize::from(b / 8) % 3]),
                });
                Fuzz::close_kwargs(input, &mut kwargs);
            }
            "kill_all" => Fuzz::close_kwargs(input, &mut kwargs),
            _ => {
                if input.byte() % 2 == 0 {
                    args.push(garbage(input));
                }
            }
        }
        if input.byte() % 16 == 0 {
            // Arguments missing.
            args.clear();
        }
        (args, kwargs)
    }

    fn meta_call(&mut self, input: &mut Input, i: usize) {
        let request = self.pick_request(input, i);
        let procedure = input.pick(META_PROCEDURES);
        let (args, kwargs) = self.meta_args(input, procedure);
        let options = CallOptions {
            receive_progress: (input.byte() % 8 == 0).then_some(true),
            ..Default::default()
        };
        self.send_call(i, request, uri(procedure), options, Some((args, kwargs)));
    }

    /// `wamp.session.add_testament` (a tagged publication, with publish options and a
    /// scope, or garbage) or `wamp.session.flush_testaments`.
    fn testament(&mut self, input: &mut Input, i: usize) {
        let request = self.pick_request(input, i);
        let b = input.byte();
        let mut kwargs = Dict::new();
        match input.byte() % 5 {
            2 => {
                kwargs.insert("scope".into(), Value::from("destroyed"));
            }
            3 => {
                kwargs.insert("scope".into(), Value::from("detached"));
            }
            4 => {
                kwargs.insert("scope".into(), Value::from("bogus"));
            }
            _ => {}
        }
        if b % 4 == 0 {
            let procedure = uri("wamp.session.flush_testaments");
            self.send_call(
                i,
                request,
                procedure,
                CallOptions::default(),
                Some((vec![], kwargs)),
            );
            return;
        }
        let topic = Fuzz::topic(input);
        let mut options = self.publish_options(input);
        match (b >> 2) % 4 {
            0 => options = PublishOptions::default(),
            3 => {
                let v = if input.byte() % 2 == 0 {
                    Value::Int(1)
                } else {
                    let mut d = Dict::new();
                    d.insert("exclude_me".into(), Value::Int(1));
                    Value::Dict(d)
                };
                kwargs.insert("publish_options".into(), v);
            }
            _ => {
                let v = to_value(&options).expect("options serialize");
                kwargs.insert("publish_options".into(), v);
            }
        }
        let conn = self.clients[i].conn;
        let tag = self.world.tag(Sent::Publication(Publication {
            conn,
            session: self.router.session_id(conn),
            topic: topic.clone(),
            options,
            testament: true,
        }));
        let g = input.byte();
        let mut args = vec![
            if g % 16 == 0 {
                garbage(input)
            } else {
                Value::from(topic.as_str())
            },
            if g % 16 == 1 {
                garbage_scalar(input)
            } else {
                Value::List(vec![tag])
            },
        ];
        match (g >> 4) % 4 {
            0 => {}
            1 => args.push(Value::Dict(Dict::new())),
            2 => {
                let mut d = Dict::new();
                d.insert("k".into(), Value::UInt(1));
                args.push(Value::Dict(d));
            }
            _ => args.push(garbage_scalar(input)),
        }
        let procedure = uri("wamp.session.add_testament");
        self.send_call(
            i,
            request,
            procedure,
            CallOptions::default(),
            Some((args, kwargs)),
        );
    }

    /// `Router::revoke_registration` or `revoke_subscription`: it may succeed only for a
    /// registration or subscription the client got (or is getting: its REGISTERED or
    /// SUBSCRIBED may still be queued).
    fn revoke(&mut self, input: &mut Input) {
        if self.live() == 0 {
            return;
        }
        let b = input.byte();
        let c = input.byte();
        let i = usize::from(b / 4) % self.live();
        let conn = self.clients[i].conn;
        let session = match self.router.session_id(conn) {
            Some(s) if b % 4 != 3 => s,
            _ => id(12345),
        };
        let reason = match (c >> 1) % 3 {
            0 => None,
            1 => Some("com.example.revoked"),
            _ => Some(""),
        };
        let registration = c & 1 != 0;
        let (own, all, kind): (_, Vec<u64>, _) = if registration {
            let own: Vec<u64> = self.clients[i]
                .model
                .registrations
                .keys()
                .map(|r| r.get())
                .collect();
            let all = self.registration_ids().iter().map(|r| r.get()).collect();
            (own, all, RequestType::Register)
        } else {
            let own: Vec<u64> = self.clients[i]
                .model
                .subscriptions
                .keys()
                .map(|r| r.get())
                .collect();
            let all = self.subscription_ids().iter().map(|s| s.get()).collect();
            (own, all, RequestType::Subscribe)
        };
        let own = Fuzz::held_or_bogus(input, &own);
        let target = if c & 0x80 != 0 && !all.is_empty() {
            all[usize::from(c >> 3) % all.len()]
        } else {
            own
        };
        let target = id::<Id>(target).get();
        let revoked = if registration {
            self.router
                .revoke_registration(self.now, session, id(target), reason)
        } else {
            self.router
                .revoke_subscription(self.now, session, id(target), reason)
        };
        trace!("revoke {kind:?} {target} of session {session} ({reason:?}): {revoked}");
        if revoked {
            let model = &self.clients[i].model;
            let held = if registration {
                model.registrations.contains_key(&id(target))
            } else {
                model.subscriptions.contains_key(&id(target))
            };
            assert!(
                held || !model.outstanding(kind).is_empty(),
                "revoking {kind:?} {target} of session {session} succeeded, but {conn:?} never got it"
            );
        }
    }

    /// A message only a router sends (a protocol violation from a client), or
    /// EVENT_RECEIVED.
    fn router_message(&mut self, input: &mut Input, i: usize) {
        let n = 1 + u64::from(input.byte() % 3);
        let m: Message = match input.byte() % 12 {
            0 => Welcome::new(id(n), RouterRoles::default()).into(),
            1 => Challenge {
                auth_method: "ticket".into(),
                extra: Default::default(),
            }
            .into(),
            2 => Published {
                request: id(n),
                publication: id(n),
            }
            .into(),
            3 => Subscribed {
                request: id(n),
                subscription: id(n),
            }
            .into(),
            4 => Unsubscribed {
                request: Some(id(n)),
                details: Default::default(),
            }
            .into(),
            5 => Event::new(id(n), id(n)).into(),
            6 => CallResult::new(id(n)).into(),
            7 => Registered {
                request: id(n),
                registration: id(n),
            }
            .into(),
            8 => Unregistered {
                request: Some(id(n)),
                details: Default::default(),
            }
            .into(),
            9 => Invocation::new(id(n), id(n)).into(),
            10 => Interrupt {
                request: id(n),
                options: Default::default(),
            }
            .into(),
            _ => EventReceived { publication: id(n) }.into(),
        };
        self.send(i, m);
    }

    fn kill(&mut self, input: &mut Input) {
        let b = input.byte();
        let session = if self.live() > 0 && b % 4 != 3 {
            let c = &self.clients[usize::from(b / 4) % self.live()];
            // The router's idea, or the client's (possibly stale).
            if b & 0x80 == 0 {
                self.router.session_id(c.conn)
            } else {
                c.model.session
            }
        } else {
            None
        }
        .unwrap_or(id(12345));
        let existed = self
            .clients
            .iter()
            .any(|c| self.router.session_id(c.conn) == Some(session));
        let message = (b & 0x40 != 0).then(|| "go away".to_owned());
        let killed = self
            .router
            .kill(self.now, session, "wamp.close.killed", message);
        trace!("kill {session}: {killed}");
        assert_eq!(killed, existed, "kill({session}) returned {killed}");
    }

    fn resolve_authentication(&mut self, input: &mut Input) {
        let b = input.byte();
        let conn = if !self.auth.is_empty() && b % 8 != 7 {
            self.auth.remove(usize::from(b / 8) % self.auth.len())
        } else if self.live() > 0 {
            self.clients[usize::from(b / 8) % self.live()].conn
        } else {
            return;
        };
        let decision = match input.byte() % 4 {
            0 | 1 => {
                let (authid, authrole) = input.pick(IDENTITIES);
                if let Some(i) = self.client_index(conn) {
                    self.clients[i].identity = Some((authid, authrole));
                }
                AuthDecision::Welcome(Identity {
                    authid: authid.into(),
                    authrole: authrole.into(),
                    authmethod: "ticket".into(),
                    authprovider: "fuzz".into(),
                    ..Default::default()
                })
            }
            2 => AuthDecision::Challenge {
                method: "ticket".into(),
                extra: Default::default(),
            },
            _ => AuthDecision::Deny {
                reason: "wamp.error.authentication_failed".into(),
                message: "no".into(),
            },
        };
        trace!("resolve_authentication {conn:?} {decision:?}");
        let result = self.router.resolve_authentication(self.now, conn, decision);
        trace!("  -> {result:?}");
    }

    fn resolve_authorization(&mut self, input: &mut Input) {
        let b = input.byte();
        let allowed = b & 1 == 0;
        if !self.authz.is_empty() && b % 8 != 7 {
            let token = self.authz.remove(usize::from(b / 8) % self.authz.len());
            // Some answers are cached (for a while, or until evicted), so later actions are
            // decided at once from the cache.
            let decision = match b & 6 {
                2 => AuthzDecision::from(allowed).cached_for(STEPS[usize::from(b) % STEPS.len()]),
                4 => AuthzDecision::from(allowed).cached(),
                _ => AuthzDecision::from(allowed),
            };
            trace!("resolve_authorization {token} {decision:?}");
            let result = self.router.resolve_authorization(self.now, token, decision);
            trace!("  -> {result:?}");
            if result.is_ok() {
                self.resolved_token = Some(token);
            }
        } else {
            // A token never issued, or one already answered.
            let token = match self.resolved_token {
                Some(t) if b & 2 != 0 => t,
                _ => u64::MAX,
            };
            trace!("resolve_authorization (stale) {token}");
            let result = self.router.resolve_authorization(self.now, token, allowed);
            assert_eq!(result, Err(UsageError::NoSuchAuthorization(token)));
        }
    }

    /// Lets every client catch up: authorizations are allowed, everyone reads, callees
    /// answer every invocation. Then every request of an established session must have its
    /// answer (nothing is lost).
    fn settle(&mut self) {
        for _ in 0..64 {
            let mut progress = false;
            while let Some(token) = self.authz.pop() {
                trace!("resolve_authorization {token} allowed=true");
                let result = self.router.resolve_authorization(self.now, token, true);
                trace!("  -> {result:?}");
                self.pump();
                progress = true;
            }
            for i in 0..self.clients.len() {
                self.clients[i].paused = false;
                if self.clients[i].undrained {
                    self.drain(i);
                    progress = true;
                }
            }
            for i in 0..self.clients.len() {
                let c = &self.clients[i];
                if !c.model.in_session || self.closed.contains_key(&c.conn) {
                    continue;
                }
                let invocations = std::mem::take(&mut self.clients[i].model.invocations);
                for request in invocations {
                    let tag = self.answer_tag(i, request, false, None, &Default::default());
                    self.send(i, Yield::new(id(request)).with_args(vec![tag]).into());
                    self.pump();
                    progress = true;
                }
            }
            self.check();
            if !progress {
                break;
            }
        }
        for c in &self.clients {
            if c.model.in_session && !self.closed.contains_key(&c.conn) {
                assert!(
                    c.model.requests.is_empty(),
                    "{:?}: requests never answered: {:?}",
                    c.conn,
                    c.model.requests
                );
            }
        }
    }

    /// Detaches every connection and checks that nothing is left.
    fn finish(&mut self) {
        trace!("settle");
        self.settle();
        trace!("finish");
        while let Some(c) = self.clients.pop() {
            self.router.detach(self.now, c.conn);
            self.pump();
        }
        self.pump();
        assert_eq!(self.router.session_count(), 0);
        assert_eq!(self.router.connection_count(), 0);
        assert!(self.router.is_idle(), "the router is not idle at the end");
        assert_eq!(
            self.router.poll_timeout(),
            None,
            "a timer is left with no connection"
        );
        for conn in std::mem::take(&mut self.auth) {
            assert_eq!(
                self.router.resolve_authentication(
                    self.now,
                    conn,
                    AuthDecision::Welcome(Identity::default())
                ),
                Err(UsageError::NoSuchConnection(conn))
            );
        }
        for token in std::mem::take(&mut self.authz) {
            assert_eq!(
                self.router.resolve_authorization(self.now, token, true),
                Err(UsageError::NoSuchAuthorization(token))
            );
        }
        assert!(self.router.poll_action().is_none());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&config, rest)) = data.split_first() else {
        return;
    };
    let mut fuzz = Fuzz::new(config);
    fuzz.run(&mut Input { data: rest, pos: 0 });
});
