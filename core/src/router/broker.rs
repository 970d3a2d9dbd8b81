//! The broker: subscriptions and the routing of publications to EVENTs.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexSet;

use super::connection::{Class, ConnectionId, Connections, Pushed};
use crate::id::{Id, IdGenerator};
use crate::message::{Event, EventDetails, Message, Publish};
use crate::uri::{MatchPolicy, Uri};

/// One subscription: a topic (or pattern) and match policy, shared by all its subscribers.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub uri: Uri,
    pub policy: MatchPolicy,
    /// In subscription order, so delivery order is deterministic.
    pub subscribers: IndexSet<ConnectionId>,
}

#[derive(Debug, Default)]
pub(crate) struct Broker {
    pub subscriptions: HashMap<Id, Subscription>,
    /// Exact subscriptions by topic (looked up by `&str`, without allocating).
    exact: HashMap<Uri, Id>,
    /// Prefix and wildcard subscriptions by (policy, pattern).
    by_pattern: HashMap<(MatchPolicy, Uri), Id>,
    /// Prefix and wildcard subscriptions, checked against every publication.
    patterns: Vec<Id>,
}

impl Broker {
    /// Adds `subscriber` to the subscription for (`policy`, `uri`), creating it if needed.
    /// Returns the subscription ID (the existing one when already subscribed).
    pub fn subscribe(
        &mut self,
        ids: &mut IdGenerator,
        subscriber: ConnectionId,
        uri: Uri,
        policy: MatchPolicy,
    ) -> Id {
        let existing = match policy {
            MatchPolicy::Exact => self.exact.get(&uri),
            _ => self.by_pattern.get(&(policy, uri.clone())),
        };
        let id = match existing {
            Some(id) => *id,
            None => {
                let id = loop {
                    let id = ids.next_id();
                    if !self.subscriptions.contains_key(&id) {
                        break id;
                    }
                };
                if policy == MatchPolicy::Exact {
                    self.exact.insert(uri.clone(), id);
                } else {
                    self.by_pattern.insert((policy, uri.clone()), id);
                    self.patterns.push(id);
                }
                self.subscriptions.insert(
                    id,
                    Subscription {
                        uri,
                        policy,
                        subscribers: IndexSet::new(),
                    },
                );
                id
            }
        };
        if let Some(sub) = self.subscriptions.get_mut(&id) {
            sub.subscribers.insert(subscriber);
        }
        id
    }

    /// Removes `subscriber` from `subscription`; deletes the subscription when it was the
    /// last. Returns whether the subscriber was there.
    pub fn unsubscribe(&mut self, subscriber: ConnectionId, subscription: Id) -> bool {
        let Some(sub) = self.subscriptions.get_mut(&subscription) else {
            return false;
        };
        let removed = sub.subscribers.shift_remove(&subscriber);
        if sub.subscribers.is_empty() {
            if let Some(sub) = self.subscriptions.remove(&subscription) {
                if sub.policy == MatchPolicy::Exact {
                    self.exact.remove(&sub.uri);
                } else {
                    self.by_pattern.remove(&(sub.policy, sub.uri));
                    self.patterns.retain(|p| *p != subscription);
                }
            }
        }
        removed
    }

    /// Every subscription matching `topic`: the exact one first, then patterns in the order
    /// they were created.
    pub fn matching(&self, topic: &Uri) -> Vec<Id> {
        // Allocates only when something matches.
        let mut out = Vec::new();
        if let Some(id) = self.exact.get(topic.as_str()) {
            out.push(*id);
        }
        for id in &self.patterns {
            if let Some(sub) = self.subscriptions.get(id) {
                if sub.policy.matches(sub.uri.as_str(), topic.as_str()) {
                    out.push(*id);
                }
            }
        }
        out
    }

    /// Routes a publication: one EVENT per matching subscription, shared by all of its
    /// subscribers (so a driver encodes it once per serializer). Returns how many EVENTs were
    /// queued.
    pub fn publish(
        &self,
        conns: &mut Connections,
        publisher: Option<ConnectionId>,
        publication: Id,
        publish: Publish,
        trustlevel: Option<u64>,
    ) -> usize {
        let Publish {
            options,
            topic,
            payload,
            ..
        } = publish;
        let exclude_me = options.exclude_me.unwrap_or(true);
        let matches = self.matching(&topic);
        let mut payload = Some(payload);
        let mut delivered = 0;
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
                    trustlevel,
                    ppt_scheme: options.ppt_scheme.clone(),
                    ppt_serializer: options.ppt_serializer.clone(),
                    ppt_cipher: options.ppt_cipher.clone(),
                    ppt_keyid: options.ppt_keyid.clone(),
                    ..Default::default()
                },
                payload,
            }));
            for &subscriber in &sub.subscribers {
                if exclude_me && Some(subscriber) == publisher {
                    continue;
                }
                if conns.push(subscriber, event.clone(), Class::Event) == Pushed::Queued {
                    delivered += 1;
                }
            }
        }
        delivered
    }

    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
            && self.exact.is_empty()
            && self.by_pattern.is_empty()
            && self.patterns.is_empty()
    }
}
