//! The broker side of the router: SUBSCRIBE, UNSUBSCRIBE and PUBLISH with the advanced
//! options (black- and whitelisting, publisher disclosure, sharding, retention, history,
//! passthru), subscription revocation, and reports of dropped events.

use super::broker::{Origin, Retained, Stored};
use super::*;
use crate::message::{Event, EventDetails, Payload, PublishOptions, UnsubscribedDetails};

/// A run of dropped events is reported at its first drop and every this many after.
const REPORT_EVERY: u64 = 1000;

impl Router {
    pub(super) fn on_subscribe(
        &mut self,
        now: Instant,
        conn: ConnectionId,
        m: crate::message::Subscribe,
    ) {
        let policy = m.options.match_policy.unwrap_or_default();
        if !self.usable_uri(
            conn,
            RequestType::Subscribe,
            m.request,
            &m.topic,
            policy,
            true,
        ) {
            return;
        }
        let Some(s) = self.conns.session_mut(conn) else {
            return;
        };
        let (realm, session) = (s.realm, s.id);
        let (subscription, created) = self.realms[realm].broker.subscribe(
            &mut self.rng,
            conn,
            m.topic,
            policy,
            m.options.nkey,
            now,
        );
        s.subscriptions.insert(subscription);
        self.conns.reply(
            conn,
            Subscribed {
                request: m.request,
                subscription,
            },
        );
        if m.options.get_retained == Some(true) {
            self.send_retained(conn, realm, subscription);
        }
        self.subscription_added(realm, session, subscription, created);
    }

    /// Sends a new subscriber the retained events of the topics its subscription matches,
    /// those it would have been eligible for (digest §4.22), marked `retained`.
    fn send_retained(&mut self, conn: ConnectionId, realm: usize, subscription: Id) {
        let Some(s) = self.conns.session(conn) else {
            return;
        };
        let who = broker::Who {
            session: s.id,
            authid: &s.authid,
            authrole: &s.authrole,
        };
        let broker = &self.realms[realm].broker;
        let Some(sub) = broker.subscriptions.get(&subscription) else {
            return;
        };
        let mut events = Vec::new();
        for (topic, r) in &broker.retained {
            if !sub.policy.matches(sub.uri.as_str(), topic.as_str()) {
                continue;
            }
            let own = r.origin.session == Some(who.session);
            if (own && r.options.exclude_me != Some(false)) || !broker::admits(&r.options, who) {
                continue;
            }
            let details = EventDetails {
                topic: (sub.policy != MatchPolicy::Exact).then(|| topic.clone()),
                retained: Some(true),
                ..broker::Broker::event_details(&r.options, &r.origin)
            };
            events.push(Event {
                subscription,
                publication: r.publication,
                details,
                payload: r.payload.clone(),
            });
        }
        for e in events {
            self.conns
                .push(conn, Arc::new(Message::Event(e)), Class::Event);
        }
    }

    pub(super) fn on_unsubscribe(&mut self, conn: ConnectionId, request: Id, subscription: Id) {
        let Some(s) = self.conns.session_mut(conn) else {
            return;
        };
        if !s.subscriptions.remove(&subscription) {
            return self.conns.reply(
                conn,
                Error::new(
                    RequestType::Unsubscribe,
                    request,
                    uri::error::NO_SUCH_SUBSCRIPTION,
                ),
            );
        }
        let (realm, session) = (s.realm, s.id);
        let deleted = self.realms[realm].broker.unsubscribe(conn, subscription);
        self.conns.reply(
            conn,
            Unsubscribed {
                request: Some(request),
                details: Default::default(),
            },
        );
        self.subscription_removed(realm, session, subscription, deleted == Some(true));
    }

    /// Revokes `session`'s subscription (subscription revocation): the subscriber is told
    /// with UNSUBSCRIBED (request 0, the subscription and `reason`) if it announced
    /// `subscription_revocation`, and gets no more of its events. Returns whether the
    /// session held the subscription.
    pub fn revoke_subscription(
        &mut self,
        now: Instant,
        session: Id,
        subscription: Id,
        reason: Option<&str>,
    ) -> bool {
        let Some(&conn) = self.sessions.get(&session) else {
            return false;
        };
        let Some(s) = self.conns.session_mut(conn) else {
            return false;
        };
        if !s.subscriptions.remove(&subscription) {
            return false;
        }
        let realm = s.realm;
        let told = supports(&s.roles.subscriber, features::SUBSCRIPTION_REVOCATION);
        let deleted = self.realms[realm].broker.unsubscribe(conn, subscription);
        if told {
            self.conns.reply(
                conn,
                Unsubscribed {
                    request: None,
                    details: UnsubscribedDetails {
                        subscription: Some(subscription),
                        reason: reason.map(str::to_owned),
                        ..Default::default()
                    },
                },
            );
        }
        self.subscription_removed(realm, session, subscription, deleted == Some(true));
        self.reap(now);
        true
    }

    /// A PUBLISH, allowed with `grant`.
    pub(super) fn on_publish(
        &mut self,
        now: Instant,
        conn: ConnectionId,
        m: Publish,
        grant: Grant,
    ) {
        let ack = m.options.acknowledge == Some(true);
        if !self.usable_uri(
            conn,
            RequestType::Publish,
            m.request,
            &m.topic,
            MatchPolicy::Exact,
            ack,
        ) {
            return;
        }
        let Some(s) = self.conns.session(conn) else {
            return;
        };
        if m.options.ppt_scheme.is_some()
            && !supports(&s.roles.publisher, features::PAYLOAD_PASSTHRU_MODE)
        {
            return self.violation(
                conn,
                "PUBLISH with ppt_scheme: the publisher did not announce payload_passthru_mode"
                    .into(),
            );
        }
        let realm = s.realm;
        // The publisher's permission adds a reason to disclose, except in a realm that never
        // discloses publishers.
        let policy = self.realms[realm].config.publisher_disclosure;
        let disclose_me = m.options.disclose_me == Some(true);
        if policy == Disclosure::Never && disclose_me {
            if ack {
                self.conns.reply(
                    conn,
                    Error::new(
                        RequestType::Publish,
                        m.request,
                        uri::error::OPTION_DISALLOWED_DISCLOSE_ME,
                    )
                    .with_args(vec![Value::from("this realm does not disclose publishers")]),
                );
            }
            return;
        }
        let disclose = policy.discloses(disclose_me || grant.disclose);
        let origin = Origin {
            conn: Some(conn),
            session: Some(s.id),
            disclosed: disclose.then(|| (s.id, s.authid.clone(), s.authrole.clone())),
            trustlevel: Some(s.trust_level),
        };
        let publication = self.rng.next_id();
        self.publish_as(
            now,
            realm,
            &origin,
            publication,
            m.topic,
            m.options,
            m.payload,
        );
        if ack {
            self.conns.reply(
                conn,
                Published {
                    request: m.request,
                    publication,
                },
            );
        }
    }

    /// Routes a publication in `realm`, then keeps it (retention, history) and reports any
    /// EVENTs dropped for slow subscribers.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn publish_as(
        &mut self,
        now: Instant,
        realm: usize,
        origin: &Origin,
        publication: Id,
        topic: Uri,
        options: PublishOptions,
        payload: Payload,
    ) {
        let broker = &self.realms[realm].broker;
        let keep_history = !broker.history.is_empty();
        let retain = options.retain == Some(true);
        let kept = (keep_history || retain).then(|| payload.clone());
        let delivery = broker.publish(
            &mut self.conns,
            origin,
            publication,
            &topic,
            &options,
            payload,
        );
        if let Some(payload) = kept {
            let max_retained = self.realms[realm].config.max_retained;
            let broker = &mut self.realms[realm].broker;
            if keep_history {
                broker.record(Stored {
                    at: now,
                    topic: topic.clone(),
                    publication,
                    details: broker::Broker::event_details(&options, origin),
                    payload: payload.clone(),
                    lists: options.clone(),
                });
            }
            if retain {
                let retained = Retained {
                    publication,
                    options,
                    origin: origin.clone(),
                    payload,
                };
                broker.retain(topic.clone(), retained, max_retained);
            }
        }
        for (conn, subscription) in delivery.dropped {
            self.report_dropped(realm, conn, subscription, &topic);
        }
    }

    /// Publishes [`EVENTS_DROPPED`] for a session whose EVENT was just dropped, at the first
    /// drop of a run and every [`REPORT_EVERY`] drops after.
    fn report_dropped(&mut self, realm: usize, conn: ConnectionId, subscription: Id, topic: &Uri) {
        let Some(c) = self.conns.get(conn) else {
            return;
        };
        let (burst, total) = (c.burst_drops, c.stats.dropped_events);
        let Some(session) = c.session.as_ref().map(|s| s.id) else {
            return;
        };
        if burst != 1 && burst % REPORT_EVERY != 0 {
            return;
        }
        // Meta events go through the broker too; their own drops are not reported again.
        self.meta_event(realm, EVENTS_DROPPED, |_| {
            let mut d = Dict::new();
            d.insert("subscription".into(), Value::from(subscription));
            d.insert("topic".into(), Value::from(topic.as_str()));
            d.insert("dropped".into(), Value::from(burst));
            d.insert("total".into(), Value::from(total));
            vec![Value::from(session), Value::Dict(d)]
        });
    }
}
