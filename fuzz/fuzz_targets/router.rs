#![no_main]
//! The router as a state machine under arbitrary sequences of operations from up to six
//! connections, interpreted from the input bytes, with its invariants checked after every
//! operation.
//!
//! The first byte picks the configuration: the default one (`RouterConfig::with_realm`), or
//! one with tiny outbound queues, lenient request IDs, a small pending-message limit and
//! external authentication and authorization on `realm1` (answered by operations of the
//! input, or left pending). The rest is a sequence of operations, each an opcode byte and
//! its argument bytes (missing bytes read as 0).
//!
//! Each connection has a client model that follows what the router sends it and checks it:
//! no message after `Close` or after ABORT, a second `Close` never, WELCOME/CHALLENGE only
//! outside a session and everything else only inside one, every reply answering an
//! outstanding request of the right kind, EVENTs only for active subscriptions (and at most
//! once per subscription and publication), INVOCATIONs only for active registrations with
//! sequential IDs, progressive RESULTs only for calls that asked for them. The model also
//! gives the operations real IDs to use (subscriptions, registrations, invocations, calls).
//!
//! Router-level checks: the session and connection counts agree with the connections; once
//! every handshake and GOODBYE deadline has passed, every connection is established or
//! closed; `poll_timeout` is never at or before the `now` just handled; the API contracts
//! of `kill`, `add_realm`, `resolve_*`; and at the end, after every connection is detached,
//! the router is idle, empty and has no timer left.
//!
//! Set `NEXUS_FUZZ_TRACE=1` to print the operations while replaying an input.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use nexus_core::message::*;
use nexus_core::router::{
    Action, AuthDecision, AuthMode, AuthzMode, ConnectionId, Identity, QueueConfig, RealmConfig,
    RequestIdPolicy, Router, RouterConfig, SlowSubscriberPolicy, UsageError,
};
use nexus_core::{features, DecodeError, Id, MatchPolicy, Serializer, Uri, Value};

const MAX_CLIENTS: usize = 6;
const MAX_OPS: usize = 4096;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const TOPICS: &[&str] = &[
    "a", "a.b", "a.b.c", "a.c", "x.y", "a..c", ".b", "a.", "wamp.x", "a..b", "", "a b",
];
const REALMS: &[&str] = &[
    "realm1", "realm1", "realm1", "realm1", "realm1", "realm2", "nope", "",
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

fn id(n: u64) -> Id {
    Id::new(n.clamp(1, Id::MAX.get())).expect("in range")
}

fn uri(s: &str) -> Uri {
    Uri::new_unchecked(s)
}

/// The fuzz input as a stream of bytes; reads past the end give 0.
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

/// What a client knows of its session, from what it sent and what it received.
#[derive(Debug, Default)]
struct Model {
    in_session: bool,
    session: Option<Id>,
    /// ABORT received: the router must send nothing more.
    aborted: bool,
    /// Requests awaiting their answer: (request type code, request ID) → one entry per
    /// request sent, in order, with a value (the subscription or registration to end; for
    /// a CALL, whether it accepts progressive results).
    requests: BTreeMap<(u64, u64), VecDeque<u64>>,
    subscriptions: BTreeSet<Id>,
    registrations: BTreeSet<Id>,
    /// INVOCATIONs received and not yet answered by this client.
    invocations: BTreeSet<u64>,
    last_invocation: u64,
    events: BTreeSet<(Id, Id)>,
}

impl Model {
    fn end_session(&mut self) {
        let aborted = self.aborted;
        *self = Model::default();
        self.aborted = aborted;
    }

    fn expect(&mut self, kind: RequestType, request: u64, value: u64) {
        self.requests
            .entry((kind.code(), request))
            .or_default()
            .push_back(value);
    }

    /// Takes the oldest outstanding request of `kind` with ID `request`.
    fn answer(&mut self, kind: RequestType, request: Id, what: &Message) -> u64 {
        let key = (kind.code(), request.get());
        let Some(queue) = self.requests.get_mut(&key) else {
            panic!("{what:?} answers no outstanding {kind:?} request {request}");
        };
        let value = queue.pop_front().expect("non-empty");
        if queue.is_empty() {
            self.requests.remove(&key);
        }
        value
    }

    fn outstanding(&self, kind: RequestType) -> Vec<u64> {
        self.requests
            .keys()
            .filter(|(k, _)| *k == kind.code())
            .map(|(_, r)| *r)
            .collect()
    }

    /// Checks one message the router sent and follows it.
    fn receive(&mut self, conn: ConnectionId, m: &Message) {
        trace!("    {conn:?} <- {}", summary(m));
        assert!(!self.aborted, "{conn:?} got {m:?} after ABORT");
        match m {
            Message::Welcome(w) => {
                assert!(
                    !self.in_session,
                    "{conn:?} got WELCOME inside a session: {m:?}"
                );
                self.in_session = true;
                self.session = Some(w.session);
            }
            Message::Challenge(_) => {
                assert!(!self.in_session, "{conn:?} got CHALLENGE inside a session");
            }
            Message::Abort(_) => {
                self.end_session();
                self.aborted = true;
            }
            Message::Goodbye(_) => {
                assert!(
                    self.in_session,
                    "{conn:?} got GOODBYE outside a session: {m:?}"
                );
                self.end_session();
            }
            other => {
                assert!(
                    self.in_session,
                    "{conn:?} got a session message outside a session: {other:?}"
                );
                self.receive_in_session(conn, other);
            }
        }
    }

    fn receive_in_session(&mut self, conn: ConnectionId, m: &Message) {
        match m {
            Message::Subscribed(s) => {
                self.answer(RequestType::Subscribe, s.request, m);
                self.subscriptions.insert(s.subscription);
            }
            Message::Unsubscribed(u) => {
                let request = u.request.unwrap_or_else(|| panic!("{conn:?} got {m:?}"));
                let sub = self.answer(RequestType::Unsubscribe, request, m);
                assert!(
                    self.subscriptions.remove(&id(sub)),
                    "{conn:?}: {m:?} ends subscription {sub}, which it did not hold"
                );
            }
            Message::Registered(r) => {
                self.answer(RequestType::Register, r.request, m);
                self.registrations.insert(r.registration);
            }
            Message::Unregistered(u) => {
                let request = u.request.unwrap_or_else(|| panic!("{conn:?} got {m:?}"));
                let reg = self.answer(RequestType::Unregister, request, m);
                assert!(
                    self.registrations.remove(&id(reg)),
                    "{conn:?}: {m:?} ends registration {reg}, which it did not hold"
                );
            }
            Message::Published(p) => {
                let exclude_me = self.answer(RequestType::Publish, p.request, m) == 1;
                if exclude_me {
                    // The EVENTs of a publication are queued before its PUBLISHED.
                    assert!(
                        !self.events.iter().any(|(_, p2)| *p2 == p.publication),
                        "{conn:?} got its own publication {} despite exclude_me",
                        p.publication
                    );
                }
            }
            Message::Result(r) => {
                if r.details.progress == Some(true) {
                    let progress = self
                        .requests
                        .get(&(RequestType::Call.code(), r.request.get()))
                        .is_some_and(|q| q.iter().any(|p| *p == 1));
                    assert!(
                        progress,
                        "{conn:?}: progressive {m:?} for no outstanding call that asked for progress"
                    );
                } else {
                    self.answer(RequestType::Call, r.request, m);
                }
            }
            Message::Error(e) => {
                assert!(
                    e.request_type != RequestType::Invocation,
                    "{conn:?}: the router sent ERROR for an INVOCATION: {m:?}"
                );
                self.answer(e.request_type, e.request, m);
            }
            Message::Event(e) => {
                assert!(
                    self.subscriptions.contains(&e.subscription),
                    "{conn:?}: {m:?} for a subscription it does not hold ({:?})",
                    self.subscriptions
                );
                assert!(
                    self.events.insert((e.subscription, e.publication)),
                    "{conn:?}: {m:?} delivered twice"
                );
            }
            Message::Invocation(i) => {
                assert!(
                    self.registrations.contains(&i.registration),
                    "{conn:?}: {m:?} for a registration it does not hold ({:?})",
                    self.registrations
                );
                assert_eq!(
                    i.request.get(),
                    self.last_invocation + 1,
                    "{conn:?}: INVOCATION request IDs are not sequential: {m:?}"
                );
                self.last_invocation += 1;
                self.invocations.insert(i.request.get());
            }
            Message::Interrupt(i) => {
                assert!(
                    i.request.get() <= self.last_invocation,
                    "{conn:?}: {m:?} for an INVOCATION never sent"
                );
            }
            other => panic!("{conn:?}: the router sent a client's message: {other:?}"),
        }
    }
}

fn summary(m: &Message) -> String {
    let s = format!("{m:?}");
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

struct Client {
    conn: ConnectionId,
    /// The client does not read: `Transmit` is remembered, not drained.
    paused: bool,
    /// A `Transmit` came while paused.
    undrained: bool,
    /// The next request ID of the client's own sequential counter.
    next_request: u64,
    model: Model,
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

impl Fuzz {
    fn new(config_byte: u8) -> Fuzz {
        let tiny = config_byte & 1 != 0;
        let config = if tiny {
            tiny_config(config_byte)
        } else {
            RouterConfig::with_realm(uri("realm1"))
        };
        trace!("config: {config:?}");
        Fuzz {
            router: Router::new(config, 42),
            now: Instant::now(),
            clients: Vec::new(),
            closed: HashMap::new(),
            auth: Vec::new(),
            authz: Vec::new(),
            resolved_token: None,
            realm2: tiny,
        }
    }

    fn client_index(&self, conn: ConnectionId) -> Option<usize> {
        self.clients.iter().position(|c| c.conn == conn)
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
            }
        }
    }

    fn drain(&mut self, i: usize) {
        let conn = self.clients[i].conn;
        self.clients[i].undrained = false;
        while let Some(m) = self.router.poll_transmit(conn) {
            assert!(
                !self.closed.contains_key(&conn),
                "{conn:?} got {m:?} after its Close"
            );
            self.clients[i].model.receive(conn, &m);
        }
    }

    /// Checks the router against the connections after an operation.
    fn check(&mut self) {
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
            } else if stats.queued == 0 {
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
    fn request_id(&mut self, input: &mut Input, i: usize) -> u64 {
        let b = input.byte();
        let c = &mut self.clients[i];
        let next = c.next_request;
        let request = match b % 16 {
            0 => 1 + u64::from(b / 16) % 4,
            1 => next + 1,
            2 => next.saturating_sub(1).max(1),
            _ => next,
        };
        if request == next {
            c.next_request += 1;
        }
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
        let opcode = input.byte() % 24;
        // Operations on a client pick one of the attached connections.
        let needs_client = !matches!(opcode, 0 | 2 | 18 | 19 | 20 | 21 | 23);
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
                self.realm2 = true;
            }
            _ => unreachable!(),
        }
    }

    fn attach(&mut self, input: &mut Input) {
        let serializer = input.pick(&Serializer::ALL);
        if self.live() >= MAX_CLIENTS {
            return;
        }
        let conn = self.router.attach(self.now, serializer);
        trace!("attach {conn:?}");
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

    fn roles(input: &mut Input) -> Option<ClientRoles> {
        let canceling = Role::with_features([features::CALL_CANCELING]);
        match input.byte() % 8 {
            0..=2 => Some(ClientRoles {
                subscriber: Some(Role::default()),
                publisher: Some(Role::default()),
                caller: Some(canceling),
                callee: Some(Role::with_features([
                    features::CALL_CANCELING,
                    features::PROGRESSIVE_CALL_RESULTS,
                ])),
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
                caller: Some(Role::default()),
                callee: Some(Role::with_features([features::PROGRESSIVE_CALL_RESULTS])),
                ..Default::default()
            }),
            5 => Some(ClientRoles {
                subscriber: Some(Role::default()),
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

    fn match_policy(input: &mut Input) -> Option<MatchPolicy> {
        match input.byte() % 8 {
            0..=4 => None,
            5 => Some(MatchPolicy::Exact),
            6 => Some(MatchPolicy::Prefix),
            _ => Some(MatchPolicy::Wildcard),
        }
    }

    fn payload(input: &mut Input) -> Vec<Value> {
        match input.byte() % 4 {
            0 => vec![Value::from(1u64), Value::from("x")],
            _ => vec![],
        }
    }

    fn publish(&mut self, input: &mut Input, i: usize) {
        let request = self.request_id(input, i);
        let topic = Fuzz::topic(input);
        let flags = input.byte();
        let options = PublishOptions {
            acknowledge: (flags & 1 != 0).then_some(true),
            exclude_me: match (flags >> 1) % 4 {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            },
            ..Default::default()
        };
        let args = Fuzz::payload(input);
        if options.acknowledge == Some(true) {
            let exclude_me = options.exclude_me != Some(false);
            self.clients[i]
                .model
                .expect(RequestType::Publish, request, u64::from(exclude_me));
        }
        let m = Publish::new(id(request), topic)
            .with_options(options)
            .with_args(args);
        self.send(i, m.into());
    }

    fn subscribe(&mut self, input: &mut Input, i: usize) {
        let request = self.request_id(input, i);
        let topic = Fuzz::topic(input);
        let options = SubscribeOptions {
            match_policy: Fuzz::match_policy(input),
            ..Default::default()
        };
        self.clients[i]
            .model
            .expect(RequestType::Subscribe, request, 0);
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
            .iter()
            .map(|s| s.get())
            .collect();
        let sub = Fuzz::held_or_bogus(input, &held);
        self.clients[i]
            .model
            .expect(RequestType::Unsubscribe, request, sub);
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
        self.clients[i]
            .model
            .expect(RequestType::Register, request, 0);
        let m = Register {
            request: id(request),
            options: RegisterOptions {
                match_policy,
                invoke,
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
            .iter()
            .map(|s| s.get())
            .collect();
        let reg = Fuzz::held_or_bogus(input, &held);
        self.clients[i]
            .model
            .expect(RequestType::Unregister, request, reg);
        let m = Unregister {
            request: id(request),
            registration: id(reg),
        };
        self.send(i, m.into());
    }

    fn call(&mut self, input: &mut Input, i: usize) {
        let request = self.request_id(input, i);
        let procedure = Fuzz::topic(input);
        let receive_progress = input.byte() % 4 == 0;
        let args = Fuzz::payload(input);
        self.clients[i]
            .model
            .expect(RequestType::Call, request, u64::from(receive_progress));
        let m = Call::new(id(request), procedure)
            .with_options(CallOptions {
                receive_progress: receive_progress.then_some(true),
                ..Default::default()
            })
            .with_args(args);
        self.send(i, m.into());
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

    fn yield_(&mut self, input: &mut Input, i: usize) {
        let request = self.invocation(input, i);
        let progress = input.byte() % 4 == 0;
        let args = Fuzz::payload(input);
        if !progress {
            self.clients[i].model.invocations.remove(&request);
        }
        let m = Yield {
            request: id(request),
            options: YieldOptions {
                progress: progress.then_some(true),
                ..Default::default()
            },
            payload: Payload::default(),
        }
        .with_args(args);
        self.send(i, m.into());
    }

    fn callee_error(&mut self, input: &mut Input, i: usize) {
        let request = self.invocation(input, i);
        let request_type = match input.byte() % 16 {
            0 => RequestType::Call,
            1 => RequestType::Subscribe,
            _ => RequestType::Invocation,
        };
        if request_type == RequestType::Invocation {
            self.clients[i].model.invocations.remove(&request);
        }
        let m = Error::new(request_type, id(request), "com.example.error");
        self.send(i, m.into());
    }

    /// A message only a router sends (a protocol violation from a client), or
    /// EVENT_RECEIVED.
    fn router_message(&mut self, input: &mut Input, i: usize) {
        let n = id(1 + u64::from(input.byte() % 3));
        let m: Message = match input.byte() % 12 {
            0 => Welcome::new(n, RouterRoles::default()).into(),
            1 => Challenge {
                auth_method: "ticket".into(),
                extra: Default::default(),
            }
            .into(),
            2 => Published {
                request: n,
                publication: n,
            }
            .into(),
            3 => Subscribed {
                request: n,
                subscription: n,
            }
            .into(),
            4 => Unsubscribed {
                request: Some(n),
                details: Default::default(),
            }
            .into(),
            5 => Event::new(n, n).into(),
            6 => CallResult::new(n).into(),
            7 => Registered {
                request: n,
                registration: n,
            }
            .into(),
            8 => Unregistered {
                request: Some(n),
                details: Default::default(),
            }
            .into(),
            9 => Invocation::new(n, n).into(),
            10 => Interrupt {
                request: n,
                options: Default::default(),
            }
            .into(),
            _ => EventReceived { publication: n }.into(),
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
            0 | 1 => AuthDecision::Welcome(Identity {
                authid: "alice".into(),
                authrole: "user".into(),
                authmethod: "ticket".into(),
                authprovider: "fuzz".into(),
                ..Default::default()
            }),
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
            trace!("resolve_authorization {token} allowed={allowed}");
            let result = self.router.resolve_authorization(self.now, token, allowed);
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
                    self.send(i, Yield::new(id(request)).into());
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
