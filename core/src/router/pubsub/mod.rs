//! Publish and subscribe (digest §2.7, and §4.13 to §4.24 of the advanced profile):
//! SUBSCRIBE, UNSUBSCRIBE and PUBLISH with the advanced options (black- and whitelisting,
//! publisher disclosure, trust levels, sharding, retention, history, passthru), subscription
//! revocation, and reports of dropped events. The broker's tables are in [`broker`]; what a
//! session holds of pub/sub is its [`SessionPubSub`].

pub(crate) mod broker;

use std::collections::BTreeSet;
use std::sync::Arc;

use super::authz::Grant;
use super::config::Disclosure;
use super::connection::{Class, ConnectionId, SessionData};
use super::context::Ctx;
use super::meta;
use super::realm::Realm;
use super::EVENTS_DROPPED;
use crate::features::{self, supports};
use crate::id::{PublicationId, RequestId, SubscriptionId};
use crate::message::{
    Error, Event, EventDetails, Message, Payload, Publish, PublishOptions, Published, RequestType,
    Subscribe, Subscribed, Unsubscribed, UnsubscribedDetails,
};
use crate::uri::{self, MatchPolicy, Uri};
use crate::value::{Dict, Value};
use broker::{Origin, Retained, Stored};

/// A run of dropped events is reported at its first drop and every this many after.
const REPORT_EVERY: u64 = 1000;

/// What one session holds of pub/sub.
#[derive(Debug, Default)]
pub(crate) struct SessionPubSub {
    /// Its subscriptions (ordered: teardown walks them, and its output order must not depend
    /// on a hasher's random seed).
    pub subscriptions: BTreeSet<SubscriptionId>,
}

/// Ends what `session` (gone from `conn`) held of pub/sub: its subscriptions, returned with
/// whether each was deleted (for the meta events).
pub(crate) fn session_ended(
    realm: &mut Realm,
    conn: ConnectionId,
    session: &SessionData,
) -> Vec<(SubscriptionId, bool)> {
    session
        .pubsub
        .subscriptions
        .iter()
        .map(|sub| (*sub, realm.broker.unsubscribe(conn, *sub) == Some(true)))
        .collect()
}

pub(crate) fn on_subscribe(cx: &mut Ctx<'_>, realm: &mut Realm, conn: ConnectionId, m: Subscribe) {
    let policy = m.options.match_policy.unwrap_or_default();
    if !cx.usable_uri(
        conn,
        RequestType::Subscribe,
        m.request,
        &m.topic,
        policy,
        true,
    ) {
        return;
    }
    let Some(s) = cx.conns.session_mut(conn) else {
        return;
    };
    let session = s.id;
    let (subscription, created) =
        realm
            .broker
            .subscribe(cx.ids, conn, m.topic, policy, m.options.nkey, cx.now);
    s.pubsub.subscriptions.insert(subscription);
    cx.conns.reply(
        conn,
        Subscribed {
            request: m.request,
            subscription,
        },
    );
    if m.options.get_retained == Some(true) {
        send_retained(cx, realm, conn, subscription);
    }
    meta::subscription_added(cx, realm, session, subscription, created);
}

/// Sends a new subscriber the retained events of the topics its subscription matches,
/// those it would have been eligible for (digest §4.22), marked `retained`.
fn send_retained(
    cx: &mut Ctx<'_>,
    realm: &Realm,
    conn: ConnectionId,
    subscription: SubscriptionId,
) {
    let Some(s) = cx.conns.session(conn) else {
        return;
    };
    let who = broker::Who {
        session: s.id,
        authid: &s.authid,
        authrole: &s.authrole,
    };
    let broker = &realm.broker;
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
        cx.conns
            .push(conn, Arc::new(Message::Event(e)), Class::Event);
    }
}

pub(crate) fn on_unsubscribe(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    request: RequestId,
    subscription: SubscriptionId,
) {
    let done = Unsubscribed {
        request: Some(request),
        details: Default::default(),
    };
    if !release(cx, realm, conn, subscription, Some(done.into())) {
        cx.conns.reply(
            conn,
            Error::new(
                RequestType::Unsubscribe,
                request,
                uri::error::NO_SUCH_SUBSCRIPTION,
            ),
        );
    }
}

/// Revokes the subscription of the session on `conn` (subscription revocation): the
/// subscriber is told with UNSUBSCRIBED (no request ID, the subscription and `reason`) if it
/// announced `subscription_revocation`, and gets no more of its events. Returns whether the
/// session held the subscription.
pub(crate) fn revoke(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    subscription: SubscriptionId,
    reason: Option<&str>,
) -> bool {
    let told = cx
        .conns
        .session(conn)
        .is_some_and(|s| supports(&s.roles.subscriber, features::SUBSCRIPTION_REVOCATION));
    let notice = told.then(|| {
        Unsubscribed {
            request: None,
            details: UnsubscribedDetails {
                subscription: Some(subscription),
                reason: reason.map(str::to_owned),
                ..Default::default()
            },
        }
        .into()
    });
    release(cx, realm, conn, subscription, notice)
}

/// Takes `subscription` from the session on `conn` (UNSUBSCRIBE or revocation): the
/// subscriber gets `notice`, the meta API hears of it. Returns whether the session held it.
fn release(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    subscription: SubscriptionId,
    notice: Option<Message>,
) -> bool {
    let Some(s) = cx.conns.session_mut(conn) else {
        return false;
    };
    if !s.pubsub.subscriptions.remove(&subscription) {
        return false;
    }
    let session = s.id;
    let deleted = realm.broker.unsubscribe(conn, subscription);
    if let Some(notice) = notice {
        cx.conns.reply(conn, notice);
    }
    meta::subscription_removed(cx, realm, session, subscription, deleted == Some(true));
    true
}

/// A PUBLISH, allowed with `grant`.
pub(crate) fn on_publish(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    m: Publish,
    grant: Grant,
) {
    let ack = m.options.acknowledge == Some(true);
    if !cx.usable_uri(
        conn,
        RequestType::Publish,
        m.request,
        &m.topic,
        MatchPolicy::Exact,
        ack,
    ) {
        return;
    }
    let Some(s) = cx.conns.session(conn) else {
        return;
    };
    if m.options.ppt_scheme.is_some()
        && !supports(&s.roles.publisher, features::PAYLOAD_PASSTHRU_MODE)
    {
        return cx.conns.violation(
            conn,
            "PUBLISH with ppt_scheme: the publisher did not announce payload_passthru_mode".into(),
        );
    }
    // The publisher's permission adds a reason to disclose, except in a realm that never
    // discloses publishers.
    let policy = realm.config.publisher_disclosure;
    let disclose_me = m.options.disclose_me == Some(true);
    if policy == Disclosure::Never && disclose_me {
        if ack {
            cx.conns.reply(
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
    let publication = PublicationId::from_id(cx.ids.next_id());
    publish_as(
        cx,
        realm,
        &origin,
        publication,
        m.topic,
        m.options,
        m.payload,
    );
    if ack {
        cx.conns.reply(
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
pub(crate) fn publish_as(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    origin: &Origin,
    publication: PublicationId,
    topic: Uri,
    options: PublishOptions,
    payload: Payload,
) {
    let broker = &realm.broker;
    let keep_history = !broker.history.is_empty();
    let retain = options.retain == Some(true);
    let kept = (keep_history || retain).then(|| payload.clone());
    let delivery = broker.publish(cx.conns, origin, publication, &topic, &options, payload);
    if let Some(payload) = kept {
        let max_retained = realm.config.max_retained;
        let broker = &mut realm.broker;
        if keep_history {
            broker.record(Stored {
                at: cx.now,
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
        report_dropped(cx, realm, conn, subscription, &topic);
    }
}

/// Publishes [`EVENTS_DROPPED`] for a session whose EVENT was just dropped, at the first
/// drop of a run and every [`REPORT_EVERY`] drops after.
fn report_dropped(
    cx: &mut Ctx<'_>,
    realm: &mut Realm,
    conn: ConnectionId,
    subscription: SubscriptionId,
    topic: &Uri,
) {
    let Some(c) = cx.conns.get(conn) else {
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
    meta::publish_event(cx, realm, EVENTS_DROPPED, |_, _| {
        let mut d = Dict::new();
        d.insert("subscription".into(), Value::from(subscription));
        d.insert("topic".into(), Value::from(topic.as_str()));
        d.insert("dropped".into(), Value::from(burst));
        d.insert("total".into(), Value::from(total));
        vec![Value::from(session), Value::Dict(d)]
    });
}
