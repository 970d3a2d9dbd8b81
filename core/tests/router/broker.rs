//! The broker (digest §2.7, §2.8, §4.14, §4.17).

use crate::harness::*;
use nexus_core::message::*;
use nexus_core::{args, kwargs, MatchPolicy, Value};

fn events(msgs: Vec<Message>) -> Vec<Event> {
    msgs.into_iter()
        .map(|m| match m {
            Message::Event(e) => e,
            other => panic!("expected EVENT, got {other:?}"),
        })
        .collect()
}

#[test]
fn one_subscription_id_per_topic_shared_by_subscribers() {
    let mut net = Net::realm1();
    let mut a = net.join();
    let mut b = net.join();
    let sa = net.subscribe(&mut a, "com.t");
    let sb = net.subscribe(&mut b, "com.t");
    assert_eq!(sa, sb);
    // Re-subscribing returns the existing ID.
    assert_eq!(net.subscribe(&mut a, "com.t"), sa);
    let other = net.subscribe(&mut a, "com.other");
    assert_ne!(other, sa);
    // Same topic, other match policy: another subscription.
    let prefix = net.subscribe_with(
        &mut a,
        "com.t",
        SubscribeOptions {
            match_policy: Some(MatchPolicy::Prefix),
            ..Default::default()
        },
    );
    assert_ne!(prefix, sa);
}

#[test]
fn publish_reaches_subscribers_but_not_the_publisher() {
    let mut net = Net::realm1();
    let mut p = net.join();
    let mut s1 = net.join();
    let mut s2 = net.join();
    let mut none = net.join();
    let sub = net.subscribe(&mut s1, "com.t");
    net.subscribe(&mut s2, "com.t");
    net.subscribe(&mut p, "com.t");
    net.subscribe(&mut none, "com.elsewhere");
    let request = p.next();
    net.send(
        &p,
        Publish::new(request, uri("com.t"))
            .with_args(args![1, "two"])
            .with_kwargs(kwargs! { "k" => Value::Null }),
    );
    assert!(net.recv(&p).is_empty(), "publisher excluded by default");
    assert!(net.recv(&none).is_empty());
    let e1 = events(net.recv(&s1));
    let e2 = events(net.recv(&s2));
    assert_eq!(e1.len(), 1);
    assert_eq!(e1, e2, "the same EVENT for every subscriber");
    assert_eq!(e1[0].subscription, sub);
    assert_eq!(e1[0].payload.args(), &args![1, "two"][..]);
    assert!(
        e1[0].details.topic.is_none(),
        "no topic for exact subscriptions"
    );
}

#[test]
fn exclude_me_false_delivers_to_the_publisher() {
    let mut net = Net::realm1();
    let mut p = net.join();
    net.subscribe(&mut p, "com.myapp.topic1");
    net.publish(
        &mut p,
        "com.myapp.topic1",
        PublishOptions {
            exclude_me: Some(false),
            ..Default::default()
        },
        args!["Hello, world!"],
    );
    let got = events(net.recv(&p));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload.args(), &args!["Hello, world!"][..]);
}

#[test]
fn acknowledged_publication() {
    let mut net = Net::realm1();
    let mut p = net.join();
    let mut s = net.join();
    net.subscribe(&mut s, "com.t");
    let ack = PublishOptions {
        acknowledge: Some(true),
        ..Default::default()
    };
    let request = net.publish(&mut p, "com.t", ack.clone(), vec![]);
    let Message::Published(published) = net.recv_one(&p) else {
        panic!()
    };
    assert_eq!(published.request, request);
    let event = &events(net.recv(&s))[0];
    assert_eq!(event.publication, published.publication);
    // Without acknowledge: nothing, not even for errors.
    net.publish(&mut p, "com..bad", PublishOptions::default(), vec![]);
    net.publish(&mut p, "com.t", PublishOptions::default(), vec![]);
    assert!(net.recv(&p).is_empty());
    // With acknowledge, an invalid topic gets ERROR invalid_uri.
    let request = net.publish(&mut p, "com..bad", ack.clone(), vec![]);
    let got = net.recv_one(&p);
    assert_eq!(
        error_of(&got),
        ("wamp.error.invalid_uri", request, RequestType::Publish)
    );
    // And the reserved namespace is refused.
    let request = net.publish(&mut p, "wamp.session.on_join", ack, vec![]);
    let got = net.recv_one(&p);
    assert_eq!(
        error_of(&got),
        ("wamp.error.not_authorized", request, RequestType::Publish)
    );
}

#[test]
fn publication_ids_are_random_and_distinct() {
    let mut net = Net::realm1();
    let mut p = net.join();
    let ack = PublishOptions {
        acknowledge: Some(true),
        ..Default::default()
    };
    let mut ids = std::collections::HashSet::new();
    for _ in 0..100 {
        net.publish(&mut p, "com.t", ack.clone(), vec![]);
        let Message::Published(published) = net.recv_one(&p) else {
            panic!()
        };
        assert!(published.publication.get() > 1 << 20);
        ids.insert(published.publication);
    }
    assert_eq!(ids.len(), 100);
}

#[test]
fn unsubscribe() {
    let mut net = Net::realm1();
    let mut p = net.join();
    let mut s = net.join();
    let sub = net.subscribe(&mut s, "com.t");
    let request = s.next();
    net.send(
        &s,
        Unsubscribe {
            request,
            subscription: sub,
        },
    );
    let Message::Unsubscribed(u) = net.recv_one(&s) else {
        panic!()
    };
    assert_eq!(u.request, Some(request));
    net.publish(&mut p, "com.t", PublishOptions::default(), vec![]);
    assert!(net.recv(&s).is_empty());
    // Unknown (or no longer held) subscription.
    let request = s.next();
    net.send(
        &s,
        Unsubscribe {
            request,
            subscription: sub,
        },
    );
    let got = net.recv_one(&s);
    assert_eq!(
        error_of(&got),
        (
            "wamp.error.no_such_subscription",
            request,
            RequestType::Unsubscribe
        )
    );
}

#[test]
fn other_subscribers_keep_the_subscription() {
    let mut net = Net::realm1();
    let mut p = net.join();
    let mut a = net.join();
    let mut b = net.join();
    let sub = net.subscribe(&mut a, "com.t");
    net.subscribe(&mut b, "com.t");
    let request = a.next();
    net.send(
        &a,
        Unsubscribe {
            request,
            subscription: sub,
        },
    );
    net.recv(&a);
    net.publish(&mut p, "com.t", PublishOptions::default(), vec![]);
    assert_eq!(events(net.recv(&b))[0].subscription, sub);
    assert!(net.recv(&a).is_empty());
}

#[test]
fn invalid_topics_on_subscribe() {
    let mut net = Net::realm1();
    let mut s = net.join();
    for (topic, policy) in [
        ("com..t", MatchPolicy::Exact),
        ("com t", MatchPolicy::Exact),
        ("com.#", MatchPolicy::Exact),
        ("com..t", MatchPolicy::Prefix),
        ("", MatchPolicy::Wildcard),
    ] {
        let request = s.next();
        net.send(
            &s,
            Subscribe {
                request,
                options: SubscribeOptions {
                    match_policy: Some(policy),
                    ..Default::default()
                },
                topic: uri(topic),
            },
        );
        let got = net.recv_one(&s);
        assert_eq!(
            error_of(&got),
            ("wamp.error.invalid_uri", request, RequestType::Subscribe),
            "{topic}"
        );
    }
}

#[test]
fn ordering_per_publisher_across_topics() {
    let mut net = Net::realm1();
    let mut p = net.join();
    let mut s = net.join();
    let ta = net.subscribe(&mut s, "com.a");
    let tb = net.subscribe(&mut s, "com.b");
    for i in 0..20u32 {
        let topic = if i % 3 == 0 { "com.a" } else { "com.b" };
        net.publish(&mut p, topic, PublishOptions::default(), args![i]);
    }
    let got = events(net.recv(&s));
    let seq: Vec<u64> = got
        .iter()
        .map(|e| e.payload.args()[0].as_u64().unwrap())
        .collect();
    assert_eq!(seq, (0..20).collect::<Vec<_>>());
    for e in &got {
        let i = e.payload.args()[0].as_u64().unwrap();
        assert_eq!(e.subscription, if i % 3 == 0 { ta } else { tb });
    }
}

#[test]
fn subscribed_precedes_events() {
    let mut net = Net::realm1();
    let mut p = net.join();
    let mut s = net.join();
    net.publish(&mut p, "com.t", PublishOptions::default(), vec![]);
    let request = s.next();
    net.send(&s, Subscribe::new(request, uri("com.t")));
    net.publish(&mut p, "com.t", PublishOptions::default(), vec![]);
    let got = net.recv(&s);
    assert!(
        matches!(got.as_slice(), [Message::Subscribed(_), Message::Event(_)]),
        "{got:?}"
    );
}

#[test]
fn pattern_subscriptions_get_one_event_each_with_the_topic() {
    let mut net = Net::realm1();
    let mut p = net.join();
    let mut s = net.join();
    let exact = net.subscribe(&mut s, "com.myapp.topic.emergency.11");
    let prefix = net.subscribe_with(
        &mut s,
        "com.myapp.topic.emergency",
        SubscribeOptions {
            match_policy: Some(MatchPolicy::Prefix),
            ..Default::default()
        },
    );
    let wildcard = net.subscribe_with(
        &mut s,
        "com.myapp..emergency.",
        SubscribeOptions {
            match_policy: Some(MatchPolicy::Wildcard),
            ..Default::default()
        },
    );
    net.publish(
        &mut p,
        "com.myapp.topic.emergency.11",
        PublishOptions::default(),
        args!["x"],
    );
    let got = events(net.recv(&s));
    assert_eq!(got.len(), 3);
    let publication = got[0].publication;
    let mut by_sub: Vec<(_, Option<String>)> = got
        .iter()
        .map(|e| {
            assert_eq!(e.publication, publication);
            (
                e.subscription,
                e.details.topic.as_ref().map(|t| t.to_string()),
            )
        })
        .collect();
    by_sub.sort();
    let mut expected = vec![
        (exact, None),
        (prefix, Some("com.myapp.topic.emergency.11".to_string())),
        (wildcard, Some("com.myapp.topic.emergency.11".to_string())),
    ];
    expected.sort();
    assert_eq!(by_sub, expected);
    // Prefix matching is on the string; wildcard needs the same number of components.
    net.publish(
        &mut p,
        "com.myapp.topic.emergency-2",
        PublishOptions::default(),
        vec![],
    );
    let got = events(net.recv(&s));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].subscription, prefix);
    net.publish(
        &mut p,
        "com.myapp.x.emergency.1.2",
        PublishOptions::default(),
        vec![],
    );
    assert!(net.recv(&s).is_empty());
}

#[test]
fn leaving_removes_subscriptions() {
    let mut net = Net::realm1();
    let mut p = net.join();
    let mut s = net.join();
    net.subscribe(&mut s, "com.t");
    net.disconnect(&s);
    net.publish(&mut p, "com.t", PublishOptions::default(), vec![]);
    net.leave(&p);
    assert!(net.router.is_idle());
}
