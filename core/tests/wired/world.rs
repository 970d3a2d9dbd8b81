//! Client `Session`s and a `Router` wired together in memory, with virtual time.
//!
//! Every message crosses the wire as bytes: the sender's serializer encodes it and the
//! receiver decodes it, so peers with different serializers talk through the router as they
//! would over sockets.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use nexus_core::router::{Action, ConnectionId, Router, RouterConfig};
use nexus_core::session::{Session, SessionConfig, SessionEvent};
use nexus_core::{Limits, Message, Serializer, Uri};

pub struct Peer {
    pub session: Session,
    pub conn: Option<ConnectionId>,
    pub serializer: Serializer,
    /// Events the session emitted and nobody took yet.
    pub events: Vec<SessionEvent>,
    /// The router asked to close this peer's transport.
    pub closed: bool,
}

pub struct World {
    pub router: Router,
    pub now: Instant,
    pub peers: Vec<Peer>,
    /// Messages the router transmitted, in total.
    pub transmitted: usize,
    /// The router's actions, taken after every input (as the router requires) and carried
    /// out in order.
    actions: VecDeque<Action>,
}

fn cross(serializer: Serializer, message: &Message) -> Message {
    let bytes = serializer
        .encode(message)
        .unwrap_or_else(|e| panic!("cannot encode {message:?}: {e}"));
    serializer
        .decode(&bytes, &Limits::default())
        .unwrap_or_else(|e| panic!("cannot decode our own {serializer} {message:?}: {e}"))
}

impl World {
    pub fn new(config: RouterConfig, seed: u64) -> World {
        World {
            router: Router::new(config, seed),
            now: Instant::now(),
            peers: Vec::new(),
            transmitted: 0,
            actions: VecDeque::new(),
        }
    }

    pub fn realm1(seed: u64) -> World {
        World::new(
            RouterConfig::with_realm(Uri::parse("realm1").unwrap()),
            seed,
        )
    }

    /// Adds a peer with a fresh transport to the router (not joined yet).
    pub fn add_peer(&mut self, serializer: Serializer) -> usize {
        let conn = self.router.attach(self.now, serializer);
        self.peers.push(Peer {
            session: Session::new(SessionConfig::new(Uri::parse("realm1").unwrap())),
            conn: Some(conn),
            serializer,
            events: Vec::new(),
            closed: false,
        });
        self.peers.len() - 1
    }

    /// Adds a peer and joins realm1; returns its index.
    pub fn join(&mut self, serializer: Serializer) -> usize {
        let p = self.add_peer(serializer);
        self.peers[p].session.join().unwrap();
        self.pump();
        let joined = self
            .take(p)
            .into_iter()
            .any(|e| matches!(e, SessionEvent::Joined { .. }));
        assert!(joined, "peer {p} did not join");
        p
    }

    /// Moves messages both ways until nothing moves.
    pub fn pump(&mut self) {
        loop {
            let mut progress = false;
            for p in 0..self.peers.len() {
                while let Some(m) = self.peers[p].session.poll_transmit() {
                    progress = true;
                    let peer = &self.peers[p];
                    if let (Some(conn), false) = (peer.conn, peer.closed) {
                        let m = cross(peer.serializer, &m);
                        self.router.handle_message(self.now, conn, m);
                        self.take_actions();
                    }
                }
            }
            while let Some(action) = self.next_action() {
                progress = true;
                match action {
                    Action::Transmit(c) => {
                        let p = self.peer_of(c).expect("transmit to a known peer");
                        while let Some(m) = self.router.poll_transmit(c) {
                            assert!(
                                !self.peers[p].closed,
                                "router sent {m:?} after closing peer {p}"
                            );
                            self.transmitted += 1;
                            let m = cross(self.peers[p].serializer, &m);
                            // A protocol error shows up as an event; scenarios check events.
                            let _ = self.peers[p].session.handle_message(self.now, m);
                        }
                    }
                    Action::Close(c) => {
                        let p = self.peer_of(c).expect("close of a known peer");
                        assert!(!self.peers[p].closed, "peer {p} closed twice");
                        // Deliver what was queued before the close (e.g. ABORT), then close.
                        while let Some(m) = self.router.poll_transmit(c) {
                            let m = cross(self.peers[p].serializer, &m);
                            let _ = self.peers[p].session.handle_message(self.now, m);
                        }
                        self.peers[p].closed = true;
                        self.peers[p].session.handle_transport_closed();
                        self.router.detach(self.now, c);
                        self.take_actions();
                        self.peers[p].conn = None;
                    }
                    other => panic!("the open realm asks no questions: {other:?}"),
                }
            }
            for peer in &mut self.peers {
                while let Some(e) = peer.session.poll_event() {
                    progress = true;
                    peer.events.push(e);
                }
            }
            if !progress {
                break;
            }
        }
    }

    /// Takes the router's actions into this world's queue.
    fn take_actions(&mut self) {
        while let Some(action) = self.router.poll_action() {
            self.actions.push_back(action);
        }
    }

    /// The next action to carry out.
    fn next_action(&mut self) -> Option<Action> {
        self.take_actions();
        self.actions.pop_front()
    }

    fn peer_of(&self, conn: ConnectionId) -> Option<usize> {
        self.peers.iter().position(|p| p.conn == Some(conn))
    }

    /// Takes the events of peer `p`.
    pub fn take(&mut self, p: usize) -> Vec<SessionEvent> {
        std::mem::take(&mut self.peers[p].events)
    }

    /// The transport of peer `p` drops.
    pub fn disconnect(&mut self, p: usize) {
        if let Some(conn) = self.peers[p].conn.take() {
            self.router.detach(self.now, conn);
            self.take_actions();
        }
        self.peers[p].closed = true;
        self.peers[p].session.handle_transport_closed();
        self.pump();
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.router.handle_timeout(self.now);
        self.take_actions();
        self.pump();
    }

    /// Asserts no peer saw a protocol violation.
    pub fn assert_no_violations(&self) {
        for (i, p) in self.peers.iter().enumerate() {
            for e in &p.events {
                assert!(
                    !matches!(
                        e,
                        SessionEvent::ProtocolViolation { .. } | SessionEvent::Aborted { .. }
                    ),
                    "peer {i}: {e:?}"
                );
            }
        }
    }
}
