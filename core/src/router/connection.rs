//! The connection table: generational handles, per-connection state, the index of
//! sessions by ID, the connections' deadlines (handshake, GOODBYE reply) and the bounded
//! outbound queues with their policy for slow peers (the router's outbox).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::auth::static_auth::Pending;
use super::auth::transport::TransportAuth;
use super::authz::Stage;
use super::config::{QueueConfig, SlowSubscriberPolicy};
use super::meta::session::Testaments;
use super::pubsub::SessionPubSub;
use super::realm::RealmId;
use super::rpc::SessionRpc;
use super::{Action, AuthzAction};
use crate::id::{RequestId, SessionId};
use crate::message::{Abort, Hello, Message};
use crate::serializer::Serializer;
use crate::uri::{self, MatchPolicy, Uri};

/// A handle to one attached connection.
///
/// Handles are generational: when a connection is detached its slot may be reused, but the
/// new connection gets a new generation, so a stale handle never reaches it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId {
    index: u32,
    generation: u32,
}

impl ConnectionId {
    /// The slot index (stable while the connection lives; reused afterwards).
    pub fn index(self) -> u32 {
        self.index
    }

    /// The generation of the slot.
    pub fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Conn({}#{})", self.index, self.generation)
    }
}

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Messages received from the peer.
    pub messages_in: u64,
    /// Messages queued for the peer.
    pub messages_out: u64,
    /// EVENTs dropped because the outbound queue was full.
    pub dropped_events: u64,
    /// INVOCATIONs refused because the outbound queue was full.
    pub refused_invocations: u64,
    /// Messages not sent because they were larger than the peer accepts (see
    /// [`Router::handle_oversized`](super::Router::handle_oversized)); requests among them
    /// were answered with `wamp.error.payload_size_exceeded`, and are not counted here.
    pub oversized: u64,
    /// Messages waiting in the outbound queue now.
    pub queued: usize,
    /// What they hold in memory, in bytes (see [`QueueConfig`](super::QueueConfig)).
    pub queued_bytes: usize,
}

/// Where a connection is in the session lifecycle.
#[derive(Debug)]
pub(crate) enum State {
    /// Waiting for HELLO.
    AwaitingHello,
    /// HELLO received; authentication under way. `waiting` is true while the router waits
    /// for the application's decision (no AUTHENTICATE is expected then).
    Authenticating {
        realm: RealmId,
        hello: Box<Hello>,
        waiting: bool,
        /// The built-in provider's pending challenge (static authentication only).
        pending: Option<Box<Pending>>,
    },
    /// WELCOME sent.
    Established,
    /// The router sent GOODBYE and waits for the reply.
    ShuttingDown,
    /// Finished: nothing more is read; queued messages may still be sent before the transport
    /// closes.
    Closed,
}

/// The kind of an outbound message, which decides what happens when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// EVENT: dropped (or the connection closed) past capacity.
    Event,
    /// INVOCATION: refused past capacity.
    Invocation,
    /// Replies and session control: queued up to the hard limit.
    Reply,
}

/// What happened to a pushed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    Dropped,
    Refused,
}

/// The state of an established session. What a feature keeps per session is that
/// feature's type (`rpc`, `pubsub`, `testaments`), held here so that it goes with the session.
#[derive(Debug)]
pub(crate) struct SessionData {
    pub id: SessionId,
    pub realm: RealmId,
    pub authid: String,
    pub authrole: String,
    /// How the session authenticated (as its WELCOME said).
    pub authmethod: String,
    /// Who authenticated it (as its WELCOME said).
    pub authprovider: String,
    /// The trust level given to the session's calls and publications.
    pub trust_level: u64,
    /// The realm's slow-subscriber policy, when it overrides the router's.
    pub slow_subscriber: Option<SlowSubscriberPolicy>,
    pub roles: crate::features::PeerRoles,
    /// The last new-request ID received (the watermark of strict checking).
    pub last_request: Option<RequestId>,
    /// Registrations, calls and invocations.
    pub rpc: SessionRpc,
    /// Subscriptions.
    pub pubsub: SessionPubSub,
    /// Publications to make when the session ends (testament meta API).
    pub testaments: Testaments,
    /// End without `wamp.session.on_leave` or testaments (`wamp.session.kill_all` and
    /// router shutdown, which end every other session at once).
    pub quiet: bool,
}

/// An action held until its authorization is decided.
#[derive(Debug)]
pub(crate) struct PendingAuthz {
    pub token: u64,
    pub message: Message,
    /// What the authorizer was asked (the key its decision is cached under).
    pub question: (AuthzAction, MatchPolicy, Uri),
    /// How far the message gets if the answer is yes.
    pub then: Stage,
}

#[derive(Debug)]
pub(crate) struct Connection {
    pub id: ConnectionId,
    pub serializer: Option<Serializer>,
    /// The transport's label (see `Router::set_transport`).
    pub transport: Option<String>,
    /// The largest message the peer accepts, in bytes (see `Router::set_frame_limit`).
    pub frame_limit: Option<usize>,
    /// What the transport knows about the client (see `Router::set_transport_auth`).
    pub auth: TransportAuth,
    pub state: State,
    /// Messages for the peer, each with its [`Message::footprint`].
    pub queue: VecDeque<(Arc<Message>, usize)>,
    /// The sum of the queued messages' footprints.
    pub queued_bytes: usize,
    pub stats: ConnectionStats,
    /// The current deadline (handshake or GOODBYE reply), if any.
    pub deadline: Option<Instant>,
    pub session: Option<SessionData>,
    pub pending: Option<Box<PendingAuthz>>,
    /// Messages that arrived while an authorization was pending, in order.
    pub inbox: VecDeque<Message>,
    /// EVENTs dropped in a row (since the last one queued): reported in meta events.
    pub burst_drops: u64,
}

struct Slot {
    generation: u32,
    /// Boxed, so that the slots a router grows to (and keeps) hold a pointer each, not a
    /// connection's worth of bytes.
    conn: Option<Box<Connection>>,
}

/// All connections, and the router's outputs.
pub(crate) struct Connections {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    pub actions: VecDeque<Action>,
    pub queue: QueueConfig,
    /// Connections to close and tear down once the current input is handled.
    pub doomed: Vec<ConnectionId>,
    /// Established sessions by ID, in every realm.
    pub sessions: HashMap<SessionId, ConnectionId>,
    /// The connections' deadlines, soonest first.
    timers: BTreeSet<(Instant, ConnectionId)>,
}

impl Connections {
    pub fn new(queue: QueueConfig) -> Self {
        Connections {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            actions: VecDeque::new(),
            queue,
            doomed: Vec::new(),
            sessions: HashMap::new(),
            timers: BTreeSet::new(),
        }
    }

    /// Sets (or with `None` clears) a connection's deadline.
    pub fn set_deadline(&mut self, id: ConnectionId, deadline: Option<Instant>) {
        let Some(c) = self.get_mut(id) else {
            return;
        };
        let old = std::mem::replace(&mut c.deadline, deadline);
        if let Some(d) = old {
            self.timers.remove(&(d, id));
        }
        if let Some(d) = deadline {
            self.timers.insert((d, id));
        }
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Takes the next connection whose deadline passed by `now` (clearing that deadline).
    pub fn expired(&mut self, now: Instant) -> Option<ConnectionId> {
        let &(at, id) = self.timers.first()?;
        if at > now {
            return None;
        }
        self.timers.pop_first();
        if let Some(c) = self.get_mut(id) {
            c.deadline = None;
        }
        Some(id)
    }

    /// A session ID no session has.
    pub fn unused_session_id(&self, ids: &mut crate::id::IdGenerator) -> SessionId {
        loop {
            let id = SessionId::from_id(ids.next_id());
            if !self.sessions.contains_key(&id) {
                break id;
            }
        }
    }

    pub fn insert(
        &mut self,
        serializer: Option<Serializer>,
        deadline: Option<Instant>,
    ) -> ConnectionId {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    conn: None,
                });
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 connections")
            }
        };
        let slot = &mut self.slots[index as usize];
        let id = ConnectionId {
            index,
            generation: slot.generation,
        };
        if let Some(d) = deadline {
            self.timers.insert((d, id));
        }
        slot.conn = Some(Box::new(Connection {
            id,
            serializer,
            transport: None,
            frame_limit: None,
            auth: TransportAuth::default(),
            state: State::AwaitingHello,
            queue: VecDeque::new(),
            queued_bytes: 0,
            stats: ConnectionStats::default(),
            deadline,
            session: None,
            pending: None,
            inbox: VecDeque::new(),
            burst_drops: 0,
        }));
        self.live += 1;
        id
    }

    pub fn remove(&mut self, id: ConnectionId) -> Option<Connection> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let conn = slot.conn.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.live -= 1;
        if let Some(d) = conn.deadline {
            self.timers.remove(&(d, id));
        }
        self.doomed.retain(|d| *d != id);
        Some(*conn)
    }

    pub fn get(&self, id: ConnectionId) -> Option<&Connection> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation).then_some(())?;
        slot.conn.as_deref()
    }

    pub fn get_mut(&mut self, id: ConnectionId) -> Option<&mut Connection> {
        let slot = self.slots.get_mut(id.index as usize)?;
        (slot.generation == id.generation).then_some(())?;
        slot.conn.as_deref_mut()
    }

    pub fn session(&self, id: ConnectionId) -> Option<&SessionData> {
        self.get(id).and_then(|c| c.session.as_ref())
    }

    pub fn session_mut(&mut self, id: ConnectionId) -> Option<&mut SessionData> {
        self.get_mut(id).and_then(|c| c.session.as_mut())
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn ids(&self) -> Vec<ConnectionId> {
        self.slots
            .iter()
            .filter_map(|s| s.conn.as_ref().map(|c| c.id))
            .collect()
    }

    /// Queues `message` for `id` under the queue policy of its class.
    pub fn push(&mut self, id: ConnectionId, message: Arc<Message>, class: Class) -> Pushed {
        let size = message.footprint();
        self.push_sized(id, message, size, class)
    }

    /// [`push`](Self::push) with the message's footprint known already (an EVENT fanned out
    /// to many subscribers is measured once).
    pub fn push_sized(
        &mut self,
        id: ConnectionId,
        message: Arc<Message>,
        size: usize,
        class: Class,
    ) -> Pushed {
        let cfg = self.queue;
        let Some(conn) = self.get_mut(id) else {
            return Pushed::Dropped;
        };
        if matches!(conn.state, State::Closed) {
            return Pushed::Dropped;
        }
        let len = conn.queue.len();
        // An empty queue takes any message: the transport's limit bounds a single one.
        let bytes = if len == 0 {
            0
        } else {
            conn.queued_bytes.saturating_add(size)
        };
        if len >= cfg.hard_limit || bytes > cfg.hard_limit_bytes {
            self.doom(id);
            return Pushed::Dropped;
        }
        if len >= cfg.capacity || bytes > cfg.capacity_bytes {
            match class {
                Class::Event => {
                    conn.stats.dropped_events += 1;
                    conn.burst_drops += 1;
                    let policy = conn
                        .session
                        .as_ref()
                        .and_then(|s| s.slow_subscriber)
                        .unwrap_or(cfg.slow_subscriber);
                    let disconnect = match policy {
                        SlowSubscriberPolicy::Drop => false,
                        SlowSubscriberPolicy::Disconnect => true,
                        SlowSubscriberPolicy::DisconnectAfter(n) => conn.stats.dropped_events >= n,
                    };
                    if disconnect {
                        self.doom(id);
                    }
                    return Pushed::Dropped;
                }
                Class::Invocation => {
                    conn.stats.refused_invocations += 1;
                    return Pushed::Refused;
                }
                Class::Reply => {}
            }
        }
        if class == Class::Event {
            conn.burst_drops = 0;
        }
        conn.queue.push_back((message, size));
        conn.queued_bytes += size;
        conn.stats.messages_out += 1;
        if len == 0 {
            self.actions.push_back(Action::Transmit(id));
        }
        Pushed::Queued
    }

    /// Queues a reply or control message (see [`Class::Reply`]).
    pub fn reply(&mut self, id: ConnectionId, message: impl Into<Message>) {
        self.push(id, Arc::new(message.into()), Class::Reply);
    }

    /// ABORT with `reason`, then close.
    pub fn abort(&mut self, id: ConnectionId, reason: &str, message: String) {
        self.reply(id, Abort::new(reason, message));
        self.doom(id);
    }

    /// ABORT `wamp.error.protocol_violation`, then close.
    pub fn violation(&mut self, id: ConnectionId, message: String) {
        self.abort(id, uri::error::PROTOCOL_VIOLATION, message);
    }

    /// Whether any connection waits for an authorization.
    pub fn any_pending_authorization(&self) -> bool {
        self.slots
            .iter()
            .any(|s| s.conn.as_ref().is_some_and(|c| c.pending.is_some()))
    }

    /// Finds the connection holding the authorization with `token`.
    pub fn pending_authorization(&mut self, token: u64) -> Option<&mut Connection> {
        let index = usize::try_from(token >> 32).ok()?;
        let c = self.slots.get_mut(index)?.conn.as_mut()?;
        c.pending
            .as_ref()
            .is_some_and(|p| p.token == token)
            .then_some(c)
    }

    /// Marks a connection to be closed and torn down after the current input.
    pub fn doom(&mut self, id: ConnectionId) {
        if !self.doomed.contains(&id) {
            self.doomed.push(id);
        }
    }
}
