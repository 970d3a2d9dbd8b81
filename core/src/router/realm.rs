//! One realm (digest §2.1): its configuration, its sessions, and the state of its broker
//! and dealer. Realms share nothing: every routing decision is made within one.

use indexmap::IndexMap;

use super::config::RealmConfig;
use super::connection::ConnectionId;
use super::pubsub::broker::Broker;
use super::rpc::dealer::Dealer;
use crate::id::SessionId;

/// A handle to one of the router's realms (its position in the router's table; realms are
/// never removed, so a handle stays valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RealmId(u32);

impl RealmId {
    /// The handle of the realm at `index` in the router's table.
    pub fn new(index: usize) -> RealmId {
        RealmId(u32::try_from(index).expect("fewer than 2^32 realms"))
    }

    /// Its position in the router's table.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One realm. See the [module documentation](self).
pub(crate) struct Realm {
    pub id: RealmId,
    pub config: RealmConfig,
    /// The realm's sessions, in the order they joined.
    pub sessions: IndexMap<SessionId, ConnectionId>,
    pub broker: Broker,
    pub dealer: Dealer,
}

impl Realm {
    pub fn new(id: RealmId, config: RealmConfig) -> Self {
        Realm {
            id,
            sessions: IndexMap::new(),
            broker: Broker::new(&config.history),
            dealer: Dealer::default(),
            config,
        }
    }

    /// Whether the realm holds no session, subscription, registration or call in flight.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.broker.is_empty() && self.dealer.is_empty()
    }
}
