//! The advanced publish/subscribe features: black- and whitelisting (digest §4.13),
//! publisher identification (§4.15), sharded subscription (§4.18), subscription revocation
//! (§4.19), the subscription meta API (§4.20), event history (§4.21), event retention
//! (§4.22), and reports of events dropped for slow subscribers.

use std::time::SystemTime;

use crate::harness::*;
use nexus_core::message::*;
use nexus_core::router::{
    nkey_score, Disclosure, HistoryRule, QueueConfig, RealmConfig, RouterConfig,
    SlowSubscriberPolicy, EVENTS_DROPPED,
};
use nexus_core::{args, features, kwargs, MatchPolicy, SubscriptionId, Value};

fn event(m: Message) -> Event {
    match m {
        Message::Event(e) => e,
        other => panic!("expected EVENT, got {other:?}"),
    }
}

fn events(net: &mut Net, client: &Client) -> Vec<Event> {
    net.recv(client).into_iter().map(event).collect()
}

fn net_with(realm: RealmConfig) -> Net {
    let mut net = Net::new(RouterConfig {
        realms: vec![realm],
        ..Default::default()
    });
    net.router.set_wall_clock(net.now, SystemTime::now());
    net
}

/// Joins and returns the client with its WELCOME's authid.
fn join_named(net: &mut Net) -> (Client, String) {
    let mut client = net.connect();
    net.send(&client, Net::hello("realm1", all_roles()));
    match net.recv_one(&client) {
        Message::Welcome(w) => {
            client.session = Some(w.session);
            (client, w.details.authid.unwrap())
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

// ---- black- and whitelisting ----------------------------------------------------------------

#[test]
fn black_and_white_lists_combine_with_and() {
    let mut net = Net::realm1();
    let mut publisher = net.join();
    let mut subs: Vec<(Client, String)> = (0..3).map(|_| join_named(&mut net)).collect();
    for (c, _) in &mut subs {
        net.subscribe(c, "com.lists");
    }
    let id = |i: usize, subs: &[(Client, String)]| subs[i].0.session.unwrap();
    let cases: Vec<(PublishOptions, [bool; 3])> = vec![
        (
            PublishOptions {
                exclude: Some(vec![id(0, &subs)]),
                ..Default::default()
            },
            [false, true, true],
        ),
        (
            PublishOptions {
                eligible: Some(vec![id(0, &subs), id(1, &subs)]),
                exclude: Some(vec![id(1, &subs)]),
                ..Default::default()
            },
            [true, false, false],
        ),
        (
            PublishOptions {
                eligible_authid: Some(vec![subs[2].1.clone()]),
                ..Default::default()
            },
            [false, false, true],
        ),
        (
            PublishOptions {
                exclude_authid: Some(vec![subs[2].1.clone()]),
                ..Default::default()
            },
            [true, true, false],
        ),
        (
            PublishOptions {
                exclude_authrole: Some(vec!["anonymous".into()]),
                ..Default::default()
            },
            [false, false, false],
        ),
        (
            PublishOptions {
                eligible_authrole: Some(vec!["anonymous".into()]),
                ..Default::default()
            },
            [true, true, true],
        ),
    ];
    for (options, expected) in cases {
        net.publish(&mut publisher, "com.lists", options.clone(), args![]);
        for (i, (c, _)) in subs.iter().enumerate() {
            let got = net.recv(c).len();
            assert_eq!(got == 1, expected[i], "subscriber {i} with {options:?}");
        }
    }
}

// ---- publisher identification ---------------------------------------------------------------

#[test]
fn publishers_are_disclosed_as_the_realm_allows() {
    for (policy, disclose_me, disclosed) in [
        (Disclosure::OnRequest, false, false),
        (Disclosure::OnRequest, true, true),
        (Disclosure::Always, false, true),
        (Disclosure::Never, false, false),
    ] {
        let mut realm = RealmConfig::new(uri("realm1"));
        realm.publisher_disclosure = policy;
        let mut net = net_with(realm);
        let (mut publisher, authid) = join_named(&mut net);
        let mut sub = net.join();
        net.subscribe(&mut sub, "com.who");
        let options = PublishOptions {
            disclose_me: Some(disclose_me),
            ..Default::default()
        };
        net.publish(&mut publisher, "com.who", options, args![]);
        let e = event(net.recv_one(&sub));
        assert_eq!(e.details.publisher.is_some(), disclosed, "{policy:?}");
        if disclosed {
            assert_eq!(e.details.publisher, publisher.session);
            assert_eq!(e.details.publisher_authid.as_deref(), Some(authid.as_str()));
            assert_eq!(e.details.publisher_authrole.as_deref(), Some("anonymous"));
        }
    }
    // A realm that never discloses refuses disclose_me.
    let mut realm = RealmConfig::new(uri("realm1"));
    realm.publisher_disclosure = Disclosure::Never;
    let mut net = net_with(realm);
    let mut publisher = net.join();
    let mut sub = net.join();
    net.subscribe(&mut sub, "com.who");
    let options = PublishOptions {
        disclose_me: Some(true),
        acknowledge: Some(true),
        ..Default::default()
    };
    let request = net.publish(&mut publisher, "com.who", options, args![]);
    assert_eq!(
        error_of(&net.recv_one(&publisher)),
        (
            "wamp.error.option_disallowed.disclose_me",
            request,
            RequestType::Publish
        )
    );
    assert!(net.recv(&sub).is_empty());
}

// ---- sharded subscription -------------------------------------------------------------------

#[test]
fn a_keyed_publication_reaches_one_shard_and_the_unsharded() {
    let mut net = Net::realm1();
    let mut publisher = net.join();
    let nkeys = ["n1", "n1", "n2", "n3"];
    let mut sharded = Vec::new();
    for nkey in nkeys {
        let mut c = net.join();
        let options = SubscribeOptions {
            nkey: Some(nkey.into()),
            ..Default::default()
        };
        net.subscribe_with(&mut c, "com.sharded", options);
        sharded.push(c);
    }
    let mut plain = net.join();
    net.subscribe(&mut plain, "com.sharded");
    for rkey in ["a", "b", "c", "d", "e", "f"] {
        let winner = ["n1", "n2", "n3"]
            .into_iter()
            .max_by_key(|n| nkey_score(rkey, n))
            .unwrap();
        let options = PublishOptions {
            rkey: Some(rkey.into()),
            ..Default::default()
        };
        net.publish(&mut publisher, "com.sharded", options, args![]);
        for (c, nkey) in sharded.iter().zip(nkeys) {
            assert_eq!(net.recv(c).len(), usize::from(nkey == winner), "{rkey}");
        }
        assert_eq!(net.recv(&plain).len(), 1);
    }
    // Without an rkey, everyone.
    net.publish(&mut publisher, "com.sharded", Default::default(), args![]);
    for c in &sharded {
        assert_eq!(net.recv(c).len(), 1);
    }
}

// ---- subscription revocation and meta API ---------------------------------------------------

fn meta(net: &mut Net, client: &mut Client, procedure: &str, args: Vec<Value>) -> Message {
    net.call(client, procedure, args);
    net.recv_one(client)
}

fn first(m: &Message) -> Value {
    match m {
        Message::Result(r) => r.payload.args().first().cloned().unwrap_or(Value::Null),
        other => panic!("expected RESULT, got {other:?}"),
    }
}

#[test]
fn revoked_subscriptions_end_and_are_announced_when_supported() {
    let mut net = Net::realm1();
    let mut roles = all_roles();
    roles.subscriber = Some(Role::with_features([features::SUBSCRIPTION_REVOCATION]));
    let mut told = net.join_with(roles);
    let mut silent = net.join();
    let mut admin = net.join();
    let a = net.subscribe(&mut told, "com.revoked");
    let b = net.subscribe(&mut silent, "com.silent");
    let request = admin.next();
    net.send(
        &admin,
        Call::new(request, uri("wamp.subscription.remove_subscriber"))
            .with_args(args![a, told.session.unwrap()])
            .with_kwargs(kwargs! { "reason" => "com.maintenance" }),
    );
    assert!(matches!(net.recv_one(&admin), Message::Result(_)));
    match net.recv_one(&told) {
        Message::Unsubscribed(u) => {
            assert_eq!(u.request, None);
            assert_eq!(u.details.subscription, Some(a));
            assert_eq!(u.details.reason.as_deref(), Some("com.maintenance"));
        }
        other => panic!("expected UNSUBSCRIBED, got {other:?}"),
    }
    let m = meta(
        &mut net,
        &mut admin,
        "wamp.subscription.remove_subscriber",
        args![b, silent.session.unwrap()],
    );
    assert!(matches!(m, Message::Result(_)));
    assert!(net.recv(&silent).is_empty());
    for topic in ["com.revoked", "com.silent"] {
        net.publish(&mut admin, topic, Default::default(), args![]);
    }
    assert!(net.recv(&told).is_empty() && net.recv(&silent).is_empty());
    assert!(!net
        .router
        .revoke_subscription(net.now, told.session.unwrap(), a, None));
}

#[test]
fn subscription_meta_procedures_and_events() {
    let mut net = net_with(RealmConfig::new(uri("realm1")));
    let mut observer = net.join();
    let topics = [
        "wamp.subscription.on_create",
        "wamp.subscription.on_subscribe",
        "wamp.subscription.on_unsubscribe",
        "wamp.subscription.on_delete",
    ];
    let subs: Vec<_> = topics
        .iter()
        .map(|t| net.subscribe(&mut observer, t))
        .collect();
    assert!(
        net.recv(&observer).is_empty(),
        "no meta events for meta topics"
    );
    let mut a = net.join();
    let mut b = net.join();
    let exact = net.subscribe(&mut a, "com.x.y");
    assert_eq!(net.subscribe(&mut b, "com.x.y"), exact);
    let prefix = net.subscribe_with(
        &mut a,
        "com.x",
        SubscribeOptions {
            match_policy: Some(MatchPolicy::Prefix),
            ..Default::default()
        },
    );
    let got: Vec<_> = events(&mut net, &observer)
        .iter()
        .map(|e| e.subscription)
        .collect();
    assert_eq!(got, [subs[0], subs[1], subs[1], subs[0], subs[1]]);
    let mut admin = net.join();
    let list = first(&meta(
        &mut net,
        &mut admin,
        "wamp.subscription.list",
        args![],
    ));
    assert_eq!(list["exact"].as_list().unwrap().len(), 5);
    assert_eq!(list["prefix"], Value::List(vec![prefix.into()]));
    let m = meta(
        &mut net,
        &mut admin,
        "wamp.subscription.match",
        args!["com.x.y"],
    );
    assert_eq!(first(&m), Value::List(vec![exact.into(), prefix.into()]));
    let m = meta(
        &mut net,
        &mut admin,
        "wamp.subscription.match",
        args!["org.none"],
    );
    assert_eq!(first(&m), Value::Null);
    let m = meta(
        &mut net,
        &mut admin,
        "wamp.subscription.lookup",
        args!["com.x", kwargs! { "match" => "prefix" }],
    );
    assert_eq!(first(&m), prefix.into());
    let get = first(&meta(
        &mut net,
        &mut admin,
        "wamp.subscription.get",
        args![exact],
    ));
    assert_eq!(get["uri"], "com.x.y".into());
    assert_eq!(get["match"], "exact".into());
    assert!(get["created"].as_str().is_some());
    let m = meta(
        &mut net,
        &mut admin,
        "wamp.subscription.count_subscribers",
        args![exact],
    );
    assert_eq!(first(&m), 2.into());
    let m = meta(
        &mut net,
        &mut admin,
        "wamp.subscription.list_subscribers",
        args![exact],
    );
    let expected = vec![a.session.unwrap().into(), b.session.unwrap().into()];
    assert_eq!(first(&m), Value::List(expected));
    let m = meta(&mut net, &mut admin, "wamp.subscription.get", args![999]);
    assert_eq!(error_of(&m).0, "wamp.error.no_such_subscription");
    // The last subscriber leaving: on_unsubscribe, then on_delete.
    net.leave(&b);
    net.leave(&a);
    let got: Vec<_> = events(&mut net, &observer)
        .iter()
        .map(|e| e.subscription)
        .collect();
    assert_eq!(
        got,
        [subs[2], subs[2], subs[3], subs[2], subs[3]],
        "b leaves (exact kept), then a leaves (exact and prefix deleted)"
    );
}

// ---- event retention ------------------------------------------------------------------------

fn retain() -> PublishOptions {
    PublishOptions {
        retain: Some(true),
        ..Default::default()
    }
}

/// Subscribes with `get_retained`; returns the subscription and the retained events sent.
fn subscribe_retained(
    net: &mut Net,
    client: &mut Client,
    topic: &str,
    policy: MatchPolicy,
) -> (SubscriptionId, Vec<Event>) {
    let request = client.next();
    let options = SubscribeOptions {
        get_retained: Some(true),
        match_policy: Some(policy),
        ..Default::default()
    };
    net.send(
        client,
        Subscribe {
            request,
            options,
            topic: uri(topic),
        },
    );
    let mut got = net.recv(client).into_iter();
    let subscription = match got.next() {
        Some(Message::Subscribed(s)) => s.subscription,
        other => panic!("expected SUBSCRIBED first, got {other:?}"),
    };
    (subscription, got.map(event).collect())
}

#[test]
fn retained_events_reach_new_subscribers_that_ask() {
    let mut net = Net::realm1();
    let mut publisher = net.join();
    net.publish(&mut publisher, "com.r", retain(), args!["old"]);
    net.publish(&mut publisher, "com.r", retain(), args!["new"]);
    net.publish(
        &mut publisher,
        "com.r",
        Default::default(),
        args!["not kept"],
    );
    let mut sub = net.join();
    let (s, got) = subscribe_retained(&mut net, &mut sub, "com.r", MatchPolicy::Exact);
    let [e] = &got[..] else {
        panic!("one retained event, got {got:?}")
    };
    assert_eq!(e.subscription, s);
    assert_eq!(e.payload.args(), &args!["new"][..]);
    assert_eq!(e.details.retained, Some(true));
    assert_eq!(e.details.topic, None);
    // Without get_retained: nothing. A pattern subscription gets the concrete topic.
    let mut other = net.join();
    net.subscribe(&mut other, "com.r");
    assert!(net.recv(&other).is_empty());
    let (_, got) = subscribe_retained(&mut net, &mut other, "com", MatchPolicy::Prefix);
    let [e] = &got[..] else {
        panic!("one retained event, got {got:?}")
    };
    assert_eq!(e.details.topic.as_ref().map(|t| t.as_str()), Some("com.r"));
    // A retained event the subscriber would not have been eligible for is not sent.
    let (mut picky, authid) = join_named(&mut net);
    let options = PublishOptions {
        exclude_authid: Some(vec![authid]),
        ..retain()
    };
    net.publish(&mut publisher, "com.private", options, args![]);
    let (_, got) = subscribe_retained(&mut net, &mut picky, "com.private", MatchPolicy::Exact);
    assert!(got.is_empty());
}

#[test]
fn retained_topics_are_bounded() {
    let mut realm = RealmConfig::new(uri("realm1"));
    realm.max_retained = 2;
    let mut net = net_with(realm);
    let mut publisher = net.join();
    for t in ["com.a", "com.b", "com.c"] {
        net.publish(&mut publisher, t, retain(), args![t]);
    }
    let mut sub = net.join();
    let (_, got) = subscribe_retained(&mut net, &mut sub, "com", MatchPolicy::Prefix);
    let got: Vec<Value> = got.iter().map(|e| e.payload.args()[0].clone()).collect();
    assert_eq!(
        got,
        args!["com.b", "com.c"],
        "the oldest topic was forgotten"
    );
}

// ---- event history --------------------------------------------------------------------------

fn history_net() -> Net {
    let mut realm = RealmConfig::new(uri("realm1"));
    realm.history.push(HistoryRule {
        uri: uri("com.h"),
        policy: MatchPolicy::Prefix,
        limit: 4,
    });
    net_with(realm)
}

fn get_events(
    net: &mut Net,
    client: &mut Client,
    sub: SubscriptionId,
    filters: nexus_core::Dict,
) -> Message {
    let request = client.next();
    net.send(
        client,
        Call::new(request, uri("wamp.subscription.get_events"))
            .with_args(args![sub])
            .with_kwargs(filters),
    );
    net.recv_one(client)
}

fn publications(m: &Message) -> Vec<u64> {
    first(m)
        .as_list()
        .unwrap()
        .iter()
        .map(|e| e["publication"].as_u64().unwrap())
        .collect()
}

#[test]
fn event_history_is_kept_bounded_and_filtered() {
    let mut net = history_net();
    let mut sub = net.join();
    let s = net.subscribe(&mut sub, "com.h.topic");
    let mut publisher = net.join();
    let ack = PublishOptions {
        acknowledge: Some(true),
        ..Default::default()
    };
    let mut p = Vec::new();
    for i in 0..6 {
        net.publish(&mut publisher, "com.h.topic", ack.clone(), args![i]);
        match net.recv_one(&publisher) {
            Message::Published(x) => p.push(x.publication.get()),
            other => panic!("expected PUBLISHED, got {other:?}"),
        }
    }
    net.publish(&mut publisher, "com.h.other", ack.clone(), args![]);
    net.recv(&publisher);
    net.recv(&sub);
    let mut admin = net.join();
    // The limit is 4 for the store: the oldest events went (and com.h.other took a place).
    let all = get_events(&mut net, &mut admin, s, kwargs! {});
    assert_eq!(publications(&all), p[3..]);
    let e = first(&all).as_list().unwrap()[0].clone();
    assert_eq!(e["subscription"], s.into());
    assert_eq!(e["args"], Value::List(args![3]));
    assert!(e["timestamp"].as_str().unwrap().ends_with('Z'));
    let m = get_events(
        &mut net,
        &mut admin,
        s,
        kwargs! { "reverse" => true, "limit" => 2 },
    );
    assert_eq!(publications(&m), [p[5], p[4]]);
    let m = get_events(
        &mut net,
        &mut admin,
        s,
        kwargs! { "after_publication" => p[3] },
    );
    assert_eq!(publications(&m), p[4..]);
    let m = get_events(
        &mut net,
        &mut admin,
        s,
        kwargs! { "until_publication" => p[4] },
    );
    assert_eq!(publications(&m), p[3..5]);
    let m = get_events(
        &mut net,
        &mut admin,
        s,
        kwargs! { "from_time" => "2999-01-01T00:00:00Z" },
    );
    assert!(publications(&m).is_empty());
    let m = get_events(
        &mut net,
        &mut admin,
        s,
        kwargs! { "from_time" => "yesterday" },
    );
    assert_eq!(error_of(&m).0, "wamp.error.invalid_argument");
    // No history for topics outside the rule.
    let other = net.subscribe(&mut sub, "org.none");
    let m = get_events(&mut net, &mut admin, other, kwargs! {});
    assert_eq!(error_of(&m).0, "wamp.error.history_unavailable");
}

#[test]
fn event_history_respects_the_publication_audience() {
    let mut net = history_net();
    let mut sub = net.join();
    let s = net.subscribe(&mut sub, "com.h.secret");
    let mut publisher = net.join();
    let (mut outsider, authid) = join_named(&mut net);
    let hidden = PublishOptions {
        exclude_authid: Some(vec![authid]),
        ..Default::default()
    };
    net.publish(&mut publisher, "com.h.secret", hidden, args!["hidden"]);
    // Session-ID lists: not stored at all.
    let by_session = PublishOptions {
        exclude: Some(vec![outsider.session.unwrap()]),
        ..Default::default()
    };
    net.publish(
        &mut publisher,
        "com.h.secret",
        by_session,
        args!["unstored"],
    );
    let mut admin = net.join();
    let m = get_events(&mut net, &mut admin, s, kwargs! {});
    assert_eq!(first(&m).as_list().unwrap().len(), 1);
    let m = get_events(&mut net, &mut outsider, s, kwargs! {});
    assert!(first(&m).as_list().unwrap().is_empty());
}

// ---- slow subscribers -----------------------------------------------------------------------

#[test]
fn dropped_events_are_reported_and_can_disconnect() {
    let mut realm = RealmConfig::new(uri("realm1"));
    realm.slow_subscriber = Some(SlowSubscriberPolicy::DisconnectAfter(5));
    let mut net = Net::new(RouterConfig {
        realms: vec![realm],
        queue: QueueConfig {
            capacity: 2,
            hard_limit: 100,
            ..Default::default()
        },
        ..Default::default()
    });
    let mut observer = net.join();
    net.subscribe(&mut observer, EVENTS_DROPPED);
    let mut slow = net.join();
    let s = net.subscribe(&mut slow, "com.flood");
    let mut publisher = net.join();
    // Nothing is drained while publishing (no pump): the slow client's queue fills up.
    for i in 0..7 {
        let request = publisher.next();
        net.feed(
            publisher.conn,
            Publish::new(request, uri("com.flood"))
                .with_args(args![i])
                .into(),
        );
    }
    net.pump();
    let reports = events(&mut net, &observer);
    // Two queued, the third dropped (reported as the first of a run), and the fifth drop
    // (seventh event) closes the connection.
    assert_eq!(reports.len(), 1, "{reports:?}");
    let args = reports[0].payload.args();
    assert_eq!(args[0], slow.session.unwrap().into());
    assert_eq!(args[1]["subscription"], s.into());
    assert_eq!(args[1]["topic"], "com.flood".into());
    assert_eq!(args[1]["dropped"], 1.into());
    assert!(net.is_closed(&slow));
}
