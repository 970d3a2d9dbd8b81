//! The broker: subscriptions, the routing of publications to EVENTs (with black- and
//! whitelists, publisher disclosure and sharding), retained events and event history.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use indexmap::{IndexMap, IndexSet};

use crate::id::{IdGenerator, PublicationId, SessionId, SubscriptionId};
use crate::message::{Event, EventDetails, Message, Passthru, Payload, PublishOptions};
use crate::router::config::HistoryRule;
use crate::router::connection::{Class, ConnectionId, Connections, Pushed};
use crate::router::shard::nkey_score;
use crate::router::uri_index::{Pattern, UriIndex};
use crate::uri::{MatchPolicy, Uri};

/// One subscription: a topic (or pattern) and match policy, shared by all its subscribers.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub uri: Uri,
    pub policy: MatchPolicy,
    /// In subscription order, so delivery order is deterministic.
    pub subscribers: IndexSet<ConnectionId>,
    /// Sharded subscription: the node key each subscriber gave, if any.
    pub nkeys: HashMap<ConnectionId, String>,
    /// When the subscription was created (for the meta API).
    pub created: Instant,
}

impl Pattern for Subscription {
    type Id = SubscriptionId;
    fn uri(&self) -> &Uri {
        &self.uri
    }
    fn policy(&self) -> MatchPolicy {
        self.policy
    }
}

/// Who a subscriber is, for black- and whitelists.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who<'a> {
    pub session: SessionId,
    pub authid: &'a str,
    pub authrole: &'a str,
}

/// Who published, as the broker needs it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origin {
    /// The publisher's connection (none for the router's own meta events).
    pub conn: Option<ConnectionId>,
    /// The publisher's session.
    pub session: Option<SessionId>,
    /// The identity disclosed in EVENT details: (session, authid, authrole).
    pub disclosed: Option<(SessionId, String, String)>,
    /// The publication's trust level.
    pub trustlevel: Option<u64>,
}

/// The recipients a publication's options allow (digest §4.13): in every present eligible
/// list and in no present exclude list.
pub(crate) fn admits(o: &PublishOptions, who: Who<'_>) -> bool {
    fn has<T: PartialEq>(list: &Option<Vec<T>>, x: &T) -> Option<bool> {
        list.as_ref().map(|l| l.contains(x))
    }
    let (authid, authrole) = (who.authid.to_owned(), who.authrole.to_owned());
    has(&o.eligible, &who.session) != Some(false)
        && has(&o.eligible_authid, &authid) != Some(false)
        && has(&o.eligible_authrole, &authrole) != Some(false)
        && has(&o.exclude, &who.session) != Some(true)
        && has(&o.exclude_authid, &authid) != Some(true)
        && has(&o.exclude_authrole, &authrole) != Some(true)
}

/// Whether any black- or whitelist is present (otherwise every subscriber is admitted).
fn has_lists(o: &PublishOptions) -> bool {
    o.eligible.is_some()
        || o.eligible_authid.is_some()
        || o.eligible_authrole.is_some()
        || o.exclude.is_some()
        || o.exclude_authid.is_some()
        || o.exclude_authrole.is_some()
}

/// A retained event: the last publication to a topic with `retain`.
#[derive(Debug, Clone)]
pub(crate) struct Retained {
    pub publication: PublicationId,
    pub options: PublishOptions,
    pub origin: Origin,
    pub payload: Payload,
}

/// An event kept for `wamp.subscription.get_events`.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub at: Instant,
    pub topic: Uri,
    pub publication: PublicationId,
    /// The EVENT details (publisher, trust level, passthru...), without `topic`.
    pub details: EventDetails,
    pub payload: Payload,
    /// The publication's authid/authrole lists, applied to whoever asks for the history.
    pub lists: PublishOptions,
}

/// A history store: the events of topics matching a configured rule, bounded.
#[derive(Debug)]
pub(crate) struct History {
    pub rule: HistoryRule,
    pub events: VecDeque<Stored>,
}

/// What happened to one publication's EVENTs.
#[derive(Debug, Default)]
pub(crate) struct Delivery {
    /// EVENTs queued.
    pub delivered: usize,
    /// Subscribers whose EVENT was dropped (their queue was full): (connection,
    /// subscription).
    pub dropped: Vec<(ConnectionId, SubscriptionId)>,
}

#[derive(Debug, Default)]
pub(crate) struct Broker {
    pub subscriptions: UriIndex<Subscription>,
    /// Retained events by topic, oldest first (the oldest goes when the store is full).
    pub retained: IndexMap<Uri, Retained>,
    /// Event history stores, one per configured rule.
    pub history: Vec<History>,
}

impl Broker {
    /// A broker keeping the event history `rules` ask for.
    pub fn new(rules: &[HistoryRule]) -> Self {
        Broker {
            history: rules
                .iter()
                .map(|rule| History {
                    rule: rule.clone(),
                    events: VecDeque::new(),
                })
                .collect(),
            ..Default::default()
        }
    }

    /// The subscription of exactly `uri` under `policy`.
    pub fn find(&self, policy: MatchPolicy, uri: &Uri) -> Option<SubscriptionId> {
        self.subscriptions.find(policy, uri)
    }

    /// Adds `subscriber` to the subscription for (`policy`, `uri`), creating it if needed.
    /// Returns the subscription ID (the existing one when already subscribed) and whether
    /// it was created.
    pub fn subscribe(
        &mut self,
        ids: &mut IdGenerator,
        subscriber: ConnectionId,
        uri: Uri,
        policy: MatchPolicy,
        nkey: Option<String>,
        now: Instant,
    ) -> (SubscriptionId, bool) {
        let (id, created) = match self.find(policy, &uri) {
            Some(id) => (id, false),
            None => {
                let sub = Subscription {
                    uri,
                    policy,
                    subscribers: IndexSet::new(),
                    nkeys: HashMap::new(),
                    created: now,
                };
                (self.subscriptions.insert(ids, sub), true)
            }
        };
        if let Some(sub) = self.subscriptions.get_mut(&id) {
            sub.subscribers.insert(subscriber);
            match nkey {
                Some(k) => sub.nkeys.insert(subscriber, k),
                None => sub.nkeys.remove(&subscriber),
            };
        }
        (id, created)
    }

    /// Removes `subscriber` from `subscription`; deletes the subscription when it was the
    /// last. Returns `None` when the subscriber was not there, else whether the subscription
    /// was deleted.
    pub fn unsubscribe(
        &mut self,
        subscriber: ConnectionId,
        subscription: SubscriptionId,
    ) -> Option<bool> {
        let sub = self.subscriptions.get_mut(&subscription)?;
        if !sub.subscribers.shift_remove(&subscriber) {
            return None;
        }
        sub.nkeys.remove(&subscriber);
        if !sub.subscribers.is_empty() {
            return Some(false);
        }
        self.subscriptions.remove(subscription);
        Some(true)
    }

    /// Every subscription matching `topic`: the exact one first, then patterns in the order
    /// they were created.
    pub fn matching(&self, topic: &Uri) -> Vec<SubscriptionId> {
        self.subscriptions.matching(topic)
    }

    /// The EVENT details of a publication (without `topic`).
    pub fn event_details(options: &PublishOptions, origin: &Origin) -> EventDetails {
        let (publisher, publisher_authid, publisher_authrole) = match &origin.disclosed {
            Some((s, id, role)) => (Some(*s), Some(id.clone()), Some(role.clone())),
            None => (None, None, None),
        };
        let mut details = EventDetails {
            publisher,
            publisher_authid,
            publisher_authrole,
            trustlevel: origin.trustlevel,
            ..Default::default()
        };
        // Autobahn's older enc_* keys are not forwarded to subscribers.
        details.set_passthru(Passthru {
            enc_algo: None,
            enc_serializer: None,
            enc_key: None,
            ..options.passthru()
        });
        details
    }

    /// Routes a publication: one EVENT per matching subscription, shared by all of its
    /// subscribers (so a driver encodes it once per serializer), sent to those the
    /// publication's lists admit, the publisher excluded unless `exclude_me` is false, and,
    /// with an `rkey`, among subscribers that gave an `nkey` only those of the winning shard.
    pub fn publish(
        &self,
        conns: &mut Connections,
        origin: &Origin,
        publication: PublicationId,
        topic: &Uri,
        options: &PublishOptions,
        payload: Payload,
    ) -> Delivery {
        let exclude_me = options.exclude_me.unwrap_or(true);
        let filtered = has_lists(options);
        let matches = self.matching(topic);
        let mut payload = Some(payload);
        let mut out = Delivery::default();
        let base = (!matches.is_empty()).then(|| Self::event_details(options, origin));
        for (i, sub_id) in matches.iter().enumerate() {
            let Some(sub) = self.subscriptions.get(sub_id) else {
                continue;
            };
            // The last subscription takes the payload; earlier ones get a copy.
            let payload = if i + 1 == matches.len() {
                payload.take().unwrap_or_default()
            } else {
                payload.clone().unwrap_or_default()
            };
            let event = Arc::new(Message::Event(Event {
                subscription: *sub_id,
                publication,
                details: EventDetails {
                    topic: (sub.policy != MatchPolicy::Exact).then(|| topic.clone()),
                    ..base.clone().unwrap_or_default()
                },
                payload,
            }));
            let size = event.footprint();
            let shard = options
                .rkey
                .as_deref()
                .and_then(|rkey| winning_nkey(sub, rkey));
            for &subscriber in &sub.subscribers {
                if exclude_me && Some(subscriber) == origin.conn {
                    continue;
                }
                if let (Some(winner), Some(nkey)) = (shard, sub.nkeys.get(&subscriber)) {
                    if nkey != winner {
                        continue;
                    }
                }
                if filtered {
                    let admitted = conns.session(subscriber).is_some_and(|s| {
                        admits(
                            options,
                            Who {
                                session: s.id,
                                authid: &s.authid,
                                authrole: &s.authrole,
                            },
                        )
                    });
                    if !admitted {
                        continue;
                    }
                }
                match conns.push_sized(subscriber, event.clone(), size, Class::Event) {
                    Pushed::Queued => out.delivered += 1,
                    Pushed::Dropped => out.dropped.push((subscriber, *sub_id)),
                    Pushed::Refused => {}
                }
            }
        }
        out
    }

    /// Keeps a publication as its topic's retained event, evicting the oldest topic's when
    /// `limit` topics are kept.
    pub fn retain(&mut self, topic: Uri, retained: Retained, limit: usize) {
        if limit == 0 {
            return;
        }
        self.retained.shift_remove(&topic);
        while self.retained.len() >= limit {
            self.retained.shift_remove_index(0);
        }
        self.retained.insert(topic, retained);
    }

    /// Stores a publication in the history stores whose rule matches its topic. Publications
    /// with session-ID lists are not stored (digest §4.21: they cannot be filtered later).
    pub fn record(&mut self, stored: Stored) {
        if stored.lists.exclude.is_some() || stored.lists.eligible.is_some() {
            return;
        }
        let mut stored = Some(stored);
        for h in &mut self.history {
            if !h.rule.policy.matches(
                h.rule.uri.as_str(),
                stored.as_ref().map_or("", |s| s.topic.as_str()),
            ) {
                continue;
            }
            if h.rule.limit == 0 {
                continue;
            }
            while h.events.len() >= h.rule.limit {
                h.events.pop_front();
            }
            // The first matching rule keeps it: one copy per event.
            if let Some(s) = stored.take() {
                h.events.push_back(s);
            }
            break;
        }
    }

    /// Whether a history store could hold events for this subscription.
    pub fn keeps_history_for(&self, sub: &Subscription) -> bool {
        self.history.iter().any(|h| {
            h.rule.limit > 0
                && match (sub.policy, h.rule.policy) {
                    // A store of a wider pattern (or the same) holds this subscription's
                    // events; a narrower store may hold some of them.
                    (MatchPolicy::Exact, p) => p.matches(h.rule.uri.as_str(), sub.uri.as_str()),
                    _ => true,
                }
        })
    }

    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
    }
}

/// The nkey owning `rkey` among a subscription's sharded subscribers, if it has any.
fn winning_nkey<'a>(sub: &'a Subscription, rkey: &str) -> Option<&'a str> {
    sub.nkeys
        .values()
        .map(|k| (nkey_score(rkey, k), k.as_str()))
        .max()
        .map(|(_, k)| k)
}
