//! An in-memory harness for the router: raw clients (typed messages, no serialization),
//! virtual time, and every router output collected per connection.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use nexus_core::message::*;
use nexus_core::router::{
    Action, AuthRequest, AuthzRequest, ConnectionId, CookieGrant, Router, RouterConfig,
};
use nexus_core::{
    features, RegistrationId, RequestId, RequestIdCounter, Serializer, SessionId, SubscriptionId,
    Uri,
};

pub struct Net {
    pub router: Router,
    pub now: Instant,
    inbox: HashMap<ConnectionId, Vec<Message>>,
    pub closed: HashSet<ConnectionId>,
    pub auth: Vec<AuthRequest>,
    pub authz: Vec<AuthzRequest>,
    pub cookies: Vec<CookieGrant>,
    /// Actions taken from the router and not carried out yet (see [`Net::feed`]).
    held: VecDeque<Action>,
}

/// A raw client: a connection and its request-ID counter.
#[derive(Debug, Clone)]
pub struct Client {
    pub conn: ConnectionId,
    pub session: Option<SessionId>,
    pub ids: RequestIdCounter,
}

impl Client {
    pub fn next(&mut self) -> RequestId {
        self.ids.next_id()
    }
}

pub fn uri(s: &str) -> Uri {
    Uri::new_unchecked(s)
}

/// The ID `n`, typed by what the caller expects (a session, a request...).
pub fn id<T: TryFrom<u64, Error = nexus_core::IdOutOfRange>>(n: u64) -> T {
    T::try_from(n).unwrap()
}

pub fn all_roles() -> ClientRoles {
    let callee =
        Role::with_features([features::CALL_CANCELING, features::PROGRESSIVE_CALL_RESULTS]);
    ClientRoles {
        subscriber: Some(Role::default()),
        publisher: Some(Role::default()),
        caller: Some(Role::with_features([features::CALL_CANCELING])),
        callee: Some(callee),
        ..Default::default()
    }
}

pub fn basic_roles() -> ClientRoles {
    ClientRoles {
        subscriber: Some(Role::default()),
        publisher: Some(Role::default()),
        caller: Some(Role::default()),
        callee: Some(Role::default()),
        ..Default::default()
    }
}

impl Net {
    pub fn new(config: RouterConfig) -> Net {
        Net {
            router: Router::new(config, 42),
            now: Instant::now(),
            inbox: HashMap::new(),
            closed: HashSet::new(),
            auth: Vec::new(),
            authz: Vec::new(),
            cookies: Vec::new(),
            held: VecDeque::new(),
        }
    }

    pub fn realm1() -> Net {
        Net::new(RouterConfig::with_realm(uri("realm1")))
    }

    /// Hands the router a message as a driver that is slow to write does: the router's
    /// actions are taken (as it requires after every input) but carried out only at the next
    /// [`pump`](Self::pump), so the connections' queues fill up meanwhile.
    pub fn feed(&mut self, conn: ConnectionId, message: Message) {
        self.router.handle_message(self.now, conn, message);
        while let Some(action) = self.router.poll_action() {
            self.held.push_back(action);
        }
    }

    /// Collects every output of the router.
    pub fn pump(&mut self) {
        while let Some(action) = self.held.pop_front().or_else(|| self.router.poll_action()) {
            match action {
                Action::Transmit(c) => {
                    while let Some(m) = self.router.poll_transmit(c) {
                        assert!(
                            !self.closed.contains(&c),
                            "router sent {m:?} to closed {c:?}"
                        );
                        self.inbox.entry(c).or_default().push((*m).clone());
                    }
                }
                Action::Close(c) => {
                    assert!(self.closed.insert(c), "{c:?} closed twice");
                }
                Action::Authenticate(r) => self.auth.push(r),
                Action::Authorize(r) => self.authz.push(r),
                Action::RememberCookie(g) => self.cookies.push(g),
                other => panic!("an action this harness does not know: {other:?}"),
            }
        }
    }

    pub fn connect(&mut self) -> Client {
        let conn = self.router.attach(self.now, Serializer::Json);
        self.pump();
        Client {
            conn,
            session: None,
            ids: RequestIdCounter::new(),
        }
    }

    pub fn send(&mut self, client: &Client, message: impl Into<Message>) {
        self.router
            .handle_message(self.now, client.conn, message.into());
        self.pump();
    }

    /// Everything the router sent to the client since the last call.
    pub fn recv(&mut self, client: &Client) -> Vec<Message> {
        self.inbox.remove(&client.conn).unwrap_or_default()
    }

    /// The one message the router sent to the client since the last call.
    pub fn recv_one(&mut self, client: &Client) -> Message {
        let mut got = self.recv(client);
        assert_eq!(got.len(), 1, "expected exactly one message, got {got:#?}");
        got.remove(0)
    }

    pub fn is_closed(&self, client: &Client) -> bool {
        self.closed.contains(&client.conn)
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.router.handle_timeout(self.now);
        self.pump();
    }

    pub fn hello(realm: &str, roles: ClientRoles) -> Hello {
        Hello::new(uri(realm), roles)
    }

    /// Connects and joins realm1 with every role.
    pub fn join(&mut self) -> Client {
        self.join_with(all_roles())
    }

    pub fn join_with(&mut self, roles: ClientRoles) -> Client {
        let mut client = self.connect();
        self.send(&client, Net::hello("realm1", roles));
        match self.recv_one(&client) {
            Message::Welcome(w) => client.session = Some(w.session),
            other => panic!("expected WELCOME, got {other:?}"),
        }
        client
    }

    pub fn leave(&mut self, client: &Client) {
        self.send(client, Goodbye::new("wamp.close.normal"));
        let got = self.recv_one(client);
        assert!(matches!(got, Message::Goodbye(_)), "{got:?}");
    }

    pub fn disconnect(&mut self, client: &Client) {
        self.router.detach(self.now, client.conn);
        self.closed.insert(client.conn);
        self.inbox.remove(&client.conn);
        self.pump();
    }

    pub fn subscribe(&mut self, client: &mut Client, topic: &str) -> SubscriptionId {
        self.subscribe_with(client, topic, SubscribeOptions::default())
    }

    pub fn subscribe_with(
        &mut self,
        client: &mut Client,
        topic: &str,
        options: SubscribeOptions,
    ) -> SubscriptionId {
        let request = client.next();
        self.send(
            client,
            Subscribe {
                request,
                options,
                topic: uri(topic),
            },
        );
        match self.recv_one(client) {
            Message::Subscribed(s) => {
                assert_eq!(s.request, request);
                s.subscription
            }
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }

    pub fn register(&mut self, client: &mut Client, procedure: &str) -> RegistrationId {
        self.register_with(client, procedure, RegisterOptions::default())
    }

    pub fn register_with(
        &mut self,
        client: &mut Client,
        procedure: &str,
        options: RegisterOptions,
    ) -> RegistrationId {
        let request = client.next();
        self.send(
            client,
            Register {
                request,
                options,
                procedure: uri(procedure),
            },
        );
        match self.recv_one(client) {
            Message::Registered(r) => {
                assert_eq!(r.request, request);
                r.registration
            }
            other => panic!("expected REGISTERED, got {other:?}"),
        }
    }

    pub fn publish(
        &mut self,
        client: &mut Client,
        topic: &str,
        options: PublishOptions,
        args: Vec<nexus_core::Value>,
    ) -> RequestId {
        let request = client.next();
        self.send(
            client,
            Publish::new(request, uri(topic))
                .with_options(options)
                .with_args(args),
        );
        request
    }

    pub fn call(
        &mut self,
        client: &mut Client,
        procedure: &str,
        args: Vec<nexus_core::Value>,
    ) -> RequestId {
        self.call_with(client, procedure, CallOptions::default(), args)
    }

    pub fn call_with(
        &mut self,
        client: &mut Client,
        procedure: &str,
        options: CallOptions,
        args: Vec<nexus_core::Value>,
    ) -> RequestId {
        let request = client.next();
        self.send(
            client,
            Call::new(request, uri(procedure))
                .with_options(options)
                .with_args(args),
        );
        request
    }

    /// Asserts the client got ABORT with `reason` and its connection was closed.
    pub fn expect_abort(&mut self, client: &Client, reason: &str) -> Abort {
        let got = self.recv(client);
        let abort = match got.as_slice() {
            [Message::Abort(a)] => a.clone(),
            other => panic!("expected ABORT {reason}, got {other:#?}"),
        };
        assert_eq!(abort.reason.as_str(), reason, "{abort:?}");
        assert!(self.is_closed(client), "connection not closed after ABORT");
        abort
    }

    /// Advances far enough for every GOODBYE and handshake deadline.
    pub fn settle(&mut self) {
        self.advance(Duration::from_secs(60));
    }
}

pub fn error_of(m: &Message) -> (&str, RequestId, RequestType) {
    match m {
        Message::Error(e) => (e.error.as_str(), e.request, e.request_type),
        other => panic!("expected ERROR, got {other:?}"),
    }
}

pub fn duration(ms: u64) -> Duration {
    Duration::from_millis(ms)
}
