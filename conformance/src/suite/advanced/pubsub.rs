//! Publication features: subscriber black- and whitelisting, publisher exclusion, publisher
//! identification, publication trust levels, pattern-based and sharded subscriptions.

use nexus_tokio::nexus_core::features as f;

use super::*;

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        a!(f::SUBSCRIBER_BLACKWHITE_LISTING, "broker", exclude_blacklists_sessions, "Subscriber black- and whitelisting (§ pubsub_subscriber_blackwhite_listing): a subscriber whose session ID is in PUBLISH.Options.exclude does not receive the event; the others do"),
        a!(f::SUBSCRIBER_BLACKWHITE_LISTING, "broker", eligible_whitelists_sessions, "Subscriber black- and whitelisting (§ pubsub_subscriber_blackwhite_listing): only subscribers whose session ID is in PUBLISH.Options.eligible receive the event"),
        a!(f::SUBSCRIBER_BLACKWHITE_LISTING, "broker", eligible_and_exclude_combine, "Subscriber black- and whitelisting (§ pubsub_subscriber_blackwhite_listing): conditions combine with AND: eligible [A, B] with exclude [A] reaches B only"),
        a!(f::SUBSCRIBER_BLACKWHITE_LISTING, "broker", authid_lists, "Subscriber black- and whitelisting (§ pubsub_subscriber_blackwhite_listing): exclude_authid and eligible_authid filter on the subscriber's authid (an unknown authid excludes no one, resp. makes no one eligible; with authids announced in WELCOME, a subscriber's own authid excludes, resp. admits, it)"),
        a!(f::SUBSCRIBER_BLACKWHITE_LISTING, "broker", authrole_lists, "Subscriber black- and whitelisting (§ pubsub_subscriber_blackwhite_listing): exclude_authrole and eligible_authrole filter on the subscriber's authrole, AND-combined with the other lists (eligible_authrole [A's role] with exclude [A] excludes A)"),
        a!(f::SUBSCRIBER_BLACKWHITE_LISTING, "broker", publisher_stays_excluded, "Subscriber black- and whitelisting (§ pubsub_subscriber_blackwhite_listing): the publisher is still excluded from its own event when its session is in eligible (exclude_me defaults to true)"),
        a!(f::PUBLISHER_EXCLUSION, "broker", exclude_me_false_delivers_to_publisher, "Publisher exclusion (§ pubsub_publisher_exclusion): with PUBLISH.Options.exclude_me = false a subscribed publisher receives its own event (and the other subscribers too)"),
        a!(f::PUBLISHER_EXCLUSION, "broker", exclude_me_true_excludes_publisher, "Publisher exclusion (§ pubsub_publisher_exclusion): with exclude_me = true (the default made explicit) the publisher does not receive its own event"),
        a!(f::PUBLISHER_EXCLUSION, "broker", exclude_me_is_per_publication, "Publisher exclusion (§ pubsub_publisher_exclusion): exclude_me applies to its publication only: of false, default, false the publisher receives the first and the third"),
        a!(f::PUBLISHER_IDENTIFICATION, "broker", disclose_me_discloses_publisher, "Publisher identification (§ pubsub_publisher_identification): with PUBLISH.Options.disclose_me, EVENT.Details.publisher is the publisher's session ID; the broker MAY refuse with ERROR wamp.error.option_disallowed.disclose_me (then no event)"),
        a!(f::PUBLISHER_IDENTIFICATION, "broker", every_subscriber_sees_publisher, "Publisher identification (§ pubsub_publisher_identification): every subscriber of a disclosed publication gets Details.publisher; publisher_authid/publisher_authrole, when given, are the publisher's"),
        a!(f::PUBLICATION_TRUSTLEVELS, "broker", event_trustlevel_is_assigned, "Publication trust levels (§ pubsub_publication_trustlevels): a broker supporting trust levels provides EVENT.Details.trustlevel, an integer (0 lowest)"),
        a!(f::PUBLICATION_TRUSTLEVELS, "broker", event_trustlevel_is_stable, "Publication trust levels (§ pubsub_publication_trustlevels): trust levels are assigned per topic and publisher role, so two identical publications of one publisher get the same trust level"),
        a!(f::PATTERN_BASED_SUBSCRIPTION, "broker", prefix_subscription_matches, "Pattern-based subscription (§ pubsub_pattern_based_subscription): a prefix subscription of com.myapp.topic.emergency receives events of .11, -low, .category.severe and itself, with EVENT.Details.topic the published topic, not of com.myapp.topic.emerge"),
        a!(f::PATTERN_BASED_SUBSCRIPTION, "broker", wildcard_subscription_matches, "Pattern-based subscription (§ pubsub_pattern_based_subscription): a wildcard subscription com.myapp..userevent receives events of .foo.userevent, .bar.userevent, .a12.userevent (with Details.topic), not of longer, shorter or other-root topics"),
        a!(f::PATTERN_BASED_SUBSCRIPTION, "broker", event_per_matching_subscription, "Pattern-based subscription (§ pubsub_pattern_based_subscription): an event matching an exact, a prefix and a wildcard subscription of one subscriber is delivered once per subscription, with the same publication ID"),
        a!(f::PATTERN_BASED_SUBSCRIPTION, "broker", subscription_per_topic_and_policy, "Pattern-based subscription (§ pubsub_pattern_based_subscription): a subscription is identified by topic and options: subscribers of one prefix pattern share its ID, and the same URI subscribed exactly is another subscription"),
        a!(f::SHARDED_SUBSCRIPTION, "broker", sharded_options_accepted, "Sharded subscription (§ pubsub_sharded_subscription, alpha): SUBSCRIBE with Options.nkey gets SUBSCRIBED and an acknowledged PUBLISH with Options.rkey gets PUBLISHED (how events are sharded is not specified)"),
    ]
}

// ---- subscriber_blackwhite_listing ----------------------------------------------------------

/// A publisher and `n` subscribers of one topic.
async fn audience(t: &Target, n: usize) -> Result<(Peer, Vec<Peer>, String), Failure> {
    let publisher = Peer::join(t).await?;
    let mut subscribers = Vec::new();
    for _ in 0..n {
        subscribers.push(Peer::join(t).await?);
    }
    let topic = unique(&publisher, "bw");
    for s in &mut subscribers {
        subscribe(s, &topic).await?;
    }
    Ok((publisher, subscribers, topic))
}

/// Publishes `["filtered"]` with `options`, then the marker, and checks that exactly the
/// subscribers marked `true` got the event.
async fn deliver(
    publisher: &mut Peer,
    subscribers: &mut [Peer],
    topic: &str,
    options: PublishOptions,
    expected: &[bool],
    rule: &str,
) -> Result<(), Failure> {
    publish(publisher, topic, options, args!["filtered"]).await?;
    send_marker(publisher, topic).await?;
    for (i, (subscriber, &wanted)) in subscribers.iter_mut().zip(expected).enumerate() {
        let who = format!("subscriber {} ({rule})", i + 1);
        if wanted {
            expect_event_arg(subscriber, "filtered", &who).await?;
        }
        expect_marker(subscriber, &format!("subscriber {}", i + 1), rule).await?;
    }
    Ok(())
}

fn ids_of(peers: &[&Peer]) -> Vec<SessionId> {
    peers.iter().map(|p| session(p)).collect()
}

const NOBODY: &str = "com.conformance.nobody";

async fn exclude_blacklists_sessions(t: Target) -> Result<(), Failure> {
    let (mut p, mut subs, topic) = audience(&t, 2).await?;
    let options = PublishOptions {
        exclude: Some(ids_of(&[&subs[0]])),
        ..Default::default()
    };
    deliver(
        &mut p,
        &mut subs,
        &topic,
        options,
        &[false, true],
        "exclude [subscriber 1]",
    )
    .await
}

async fn eligible_whitelists_sessions(t: Target) -> Result<(), Failure> {
    let (mut p, mut subs, topic) = audience(&t, 2).await?;
    let options = PublishOptions {
        eligible: Some(ids_of(&[&subs[0]])),
        ..Default::default()
    };
    deliver(
        &mut p,
        &mut subs,
        &topic,
        options,
        &[true, false],
        "eligible [subscriber 1]",
    )
    .await
}

async fn eligible_and_exclude_combine(t: Target) -> Result<(), Failure> {
    let (mut p, mut subs, topic) = audience(&t, 3).await?;
    let options = PublishOptions {
        eligible: Some(ids_of(&[&subs[0], &subs[1]])),
        exclude: Some(ids_of(&[&subs[0]])),
        ..Default::default()
    };
    let rule = "eligible [subscriber 1, subscriber 2], exclude [subscriber 1]";
    deliver(
        &mut p,
        &mut subs,
        &topic,
        options,
        &[false, true, false],
        rule,
    )
    .await
}

async fn authid_lists(t: Target) -> Result<(), Failure> {
    let (mut p, mut subs, topic) = audience(&t, 2).await?;
    let nobody = || Some(vec![NOBODY.to_owned()]);
    let options = PublishOptions {
        exclude_authid: nobody(),
        ..Default::default()
    };
    deliver(
        &mut p,
        &mut subs,
        &topic,
        options,
        &[true, true],
        "exclude_authid [an unknown authid]",
    )
    .await?;
    let options = PublishOptions {
        eligible_authid: nobody(),
        ..Default::default()
    };
    deliver(
        &mut p,
        &mut subs,
        &topic,
        options,
        &[false, false],
        "eligible_authid [an unknown authid]",
    )
    .await?;
    let (Some(a), b) = (authid(&subs[0]), authid(&subs[1])) else {
        return Ok(());
    };
    let same = b.as_deref() == Some(a.as_str());
    let options = PublishOptions {
        exclude_authid: Some(vec![a.clone()]),
        ..Default::default()
    };
    deliver(
        &mut p,
        &mut subs,
        &topic,
        options,
        &[false, !same],
        "exclude_authid [subscriber 1's authid]",
    )
    .await?;
    let options = PublishOptions {
        eligible_authid: Some(vec![a]),
        ..Default::default()
    };
    deliver(
        &mut p,
        &mut subs,
        &topic,
        options,
        &[true, same],
        "eligible_authid [subscriber 1's authid]",
    )
    .await
}

async fn authrole_lists(t: Target) -> Result<(), Failure> {
    let (mut p, mut subs, topic) = audience(&t, 2).await?;
    let nobody = || Some(vec![NOBODY.to_owned()]);
    let options = PublishOptions {
        exclude_authrole: nobody(),
        ..Default::default()
    };
    deliver(
        &mut p,
        &mut subs,
        &topic,
        options,
        &[true, true],
        "exclude_authrole [an unknown authrole]",
    )
    .await?;
    let options = PublishOptions {
        eligible_authrole: nobody(),
        ..Default::default()
    };
    deliver(
        &mut p,
        &mut subs,
        &topic,
        options,
        &[false, false],
        "eligible_authrole [an unknown authrole]",
    )
    .await?;
    let (Some(a), b) = (authrole(&subs[0]), authrole(&subs[1])) else {
        return Ok(());
    };
    let same = b.as_deref() == Some(a.as_str());
    let options = PublishOptions {
        eligible_authrole: Some(vec![a.clone()]),
        exclude: Some(ids_of(&[&subs[0]])),
        ..Default::default()
    };
    let rule = "eligible_authrole [subscriber 1's authrole], exclude [subscriber 1]";
    deliver(&mut p, &mut subs, &topic, options, &[false, same], rule).await?;
    let options = PublishOptions {
        exclude_authrole: Some(vec![a]),
        ..Default::default()
    };
    deliver(
        &mut p,
        &mut subs,
        &topic,
        options,
        &[false, !same],
        "exclude_authrole [subscriber 1's authrole]",
    )
    .await
}

async fn publisher_stays_excluded(t: Target) -> Result<(), Failure> {
    let (mut p, mut subs, topic) = audience(&t, 1).await?;
    subscribe(&mut p, &topic).await?;
    let options = PublishOptions {
        eligible: Some(vec![session(&p), session(&subs[0])]),
        ..Default::default()
    };
    deliver(
        &mut p,
        &mut subs,
        &topic,
        options,
        &[true],
        "eligible [publisher, subscriber 1]",
    )
    .await?;
    p.expect_nothing().await
}

// ---- publisher_exclusion --------------------------------------------------------------------

fn exclude_me(value: bool) -> PublishOptions {
    PublishOptions {
        exclude_me: Some(value),
        ..Default::default()
    }
}

async fn exclude_me_false_delivers_to_publisher(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join(&t).await?;
    let mut s = Peer::join(&t).await?;
    let topic = unique(&p, "selfpub");
    subscribe(&mut p, &topic).await?;
    subscribe(&mut s, &topic).await?;
    publish(&mut p, &topic, exclude_me(false), args!["self"]).await?;
    expect_event_arg(&mut p, "self", "the publisher").await?;
    expect_event_arg(&mut s, "self", "the other subscriber")
        .await
        .map(|_| ())
}

async fn exclude_me_true_excludes_publisher(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join(&t).await?;
    let topic = unique(&p, "noselfpub");
    subscribe(&mut p, &topic).await?;
    publish(&mut p, &topic, exclude_me(true), args!["hidden"]).await?;
    publish(&mut p, &topic, exclude_me(false), args![MARKER]).await?;
    expect_marker(&mut p, "the publisher", "exclude_me = true")
        .await
        .map(|_| ())
}

async fn exclude_me_is_per_publication(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join(&t).await?;
    let topic = unique(&p, "perpub");
    subscribe(&mut p, &topic).await?;
    publish(&mut p, &topic, exclude_me(false), args!["first"]).await?;
    publish(&mut p, &topic, PublishOptions::default(), args!["second"]).await?;
    publish(&mut p, &topic, exclude_me(false), args!["third"]).await?;
    expect_event_arg(&mut p, "first", "the publisher").await?;
    expect_event_arg(
        &mut p,
        "third",
        "the publisher (not the default-excluded second)",
    )
    .await?;
    p.expect_nothing().await
}

// ---- publisher_identification ---------------------------------------------------------------

const DISCLOSE_REFUSED: &str = "wamp.error.option_disallowed.disclose_me";

/// Publishes `["disclosed"]` with disclose_me (acknowledged); `false` when the broker refused.
async fn publish_disclosed(p: &mut Peer, topic: &str) -> Result<bool, Failure> {
    let request = p.next_id();
    let options = PublishOptions {
        acknowledge: Some(true),
        disclose_me: Some(true),
        ..Default::default()
    };
    p.send(
        Publish::new(request, uri(topic))
            .with_options(options)
            .with_args(args!["disclosed"]),
    )
    .await?;
    match p
        .next_or("PUBLISHED, or ERROR wamp.error.option_disallowed.disclose_me")
        .await?
    {
        Message::Published(x) if x.request == request => Ok(true),
        Message::Error(e) if e.request == request && e.error == DISCLOSE_REFUSED => Ok(false),
        other => Err(Failure::new(
            format!("PUBLISHED, or ERROR {DISCLOSE_REFUSED}"),
            describe(&other),
        )),
    }
}

fn check_publisher(e: &Event, publisher: &Peer) -> Result<(), Failure> {
    let expected = session(publisher);
    check(
        e.details.publisher == Some(expected),
        format!("EVENT.Details.publisher {expected}"),
        format!("{:?}", e.details.publisher.map(SessionId::get)),
    )?;
    check_identity(
        publisher,
        "EVENT.Details.publisher_*: the publisher's",
        e.details.publisher_authid.as_ref(),
        e.details.publisher_authrole.as_ref(),
    )
}

async fn disclose_me_discloses_publisher(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join(&t).await?;
    let mut s = Peer::join(&t).await?;
    let topic = unique(&p, "disclosed");
    subscribe(&mut s, &topic).await?;
    if publish_disclosed(&mut p, &topic).await? {
        let e = expect_event_arg(&mut s, "disclosed", "the subscriber").await?;
        check_publisher(&e, &p)
    } else {
        send_marker(&mut p, &topic).await?;
        expect_marker(
            &mut s,
            "the subscriber",
            "a refused publication is not delivered",
        )
        .await
        .map(|_| ())
    }
}

async fn every_subscriber_sees_publisher(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join(&t).await?;
    let mut a = Peer::join(&t).await?;
    let mut b = Peer::join(&t).await?;
    let topic = unique(&p, "disclosed2");
    subscribe(&mut a, &topic).await?;
    subscribe(&mut b, &topic).await?;
    if !publish_disclosed(&mut p, &topic).await? {
        return Ok(());
    }
    for (who, s) in [("subscriber 1", &mut a), ("subscriber 2", &mut b)] {
        let e = expect_event_arg(s, "disclosed", who).await?;
        check_publisher(&e, &p)?;
    }
    Ok(())
}

// ---- publication_trustlevels ----------------------------------------------------------------

async fn trusted_event(p: &mut Peer, s: &mut Peer, topic: &str) -> Result<Event, Failure> {
    publish(p, topic, PublishOptions::default(), args!["trusted"]).await?;
    expect_event_arg(s, "trusted", "the subscriber").await
}

async fn event_trustlevel_is_assigned(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join(&t).await?;
    let mut s = Peer::join(&t).await?;
    let topic = unique(&p, "trust");
    subscribe(&mut s, &topic).await?;
    let e = trusted_event(&mut p, &mut s, &topic).await?;
    // The decoder already refuses a trustlevel that is not a non-negative integer.
    check(
        e.details.trustlevel.is_some(),
        "EVENT.Details.trustlevel (an integer)",
        "no trustlevel",
    )
}

async fn event_trustlevel_is_stable(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join(&t).await?;
    let mut s = Peer::join(&t).await?;
    let topic = unique(&p, "trust2");
    subscribe(&mut s, &topic).await?;
    let first = trusted_event(&mut p, &mut s, &topic).await?;
    let second = trusted_event(&mut p, &mut s, &topic).await?;
    check(
        first.details.trustlevel == second.details.trustlevel,
        "the same trustlevel for both events",
        format!(
            "{:?} then {:?}",
            first.details.trustlevel, second.details.trustlevel
        ),
    )
}

// ---- pattern_based_subscription -------------------------------------------------------------

/// Publishes to each topic of `hits` (each event carries its topic), then to each of `misses`,
/// then the marker to `marker_topic`; checks that `sub` got exactly the hits, on
/// `subscription`, with Details.topic.
async fn check_matches(
    p: &mut Peer,
    sub: &mut Peer,
    subscription: SubscriptionId,
    hits: &[String],
    misses: &[String],
    marker_topic: &str,
) -> Result<(), Failure> {
    for topic in hits.iter().chain(misses) {
        publish(p, topic, PublishOptions::default(), args![topic.as_str()]).await?;
    }
    send_marker(p, marker_topic).await?;
    for topic in hits {
        let e = expect_event_arg(sub, topic, "the pattern subscriber").await?;
        check(
            e.subscription == subscription
                && e.details.topic.as_ref().map(Uri::as_str) == Some(topic.as_str()),
            format!("EVENT for subscription {subscription} with Details.topic {topic}"),
            show_event(&e),
        )?;
    }
    expect_marker(
        sub,
        "the pattern subscriber",
        "non-matching topics are not delivered",
    )
    .await
    .map(|_| ())
}

async fn prefix_subscription_matches(t: Target) -> Result<(), Failure> {
    let mut sub = Peer::join(&t).await?;
    let mut p = Peer::join(&t).await?;
    let root = unique(&sub, "psub");
    let pattern = format!("{root}.topic.emergency");
    let subscription = subscribe_with(&mut sub, &pattern, sub_match(MatchPolicy::Prefix)).await?;
    let hits: Vec<String> = [".11", "-low", ".category.severe", ""]
        .iter()
        .map(|s| format!("{pattern}{s}"))
        .collect();
    let misses = [format!("{root}.topic.emerge")];
    check_matches(&mut p, &mut sub, subscription, &hits, &misses, &pattern).await
}

async fn wildcard_subscription_matches(t: Target) -> Result<(), Failure> {
    let mut sub = Peer::join(&t).await?;
    let mut p = Peer::join(&t).await?;
    let root = unique(&sub, "wsub");
    let subscription = subscribe_with(
        &mut sub,
        &format!("{root}..userevent"),
        sub_match(MatchPolicy::Wildcard),
    )
    .await?;
    let hits: Vec<String> = ["foo", "bar", "a12"]
        .iter()
        .map(|c| format!("{root}.{c}.userevent"))
        .collect();
    let misses = [
        format!("{root}.foo.userevent.bar"),
        format!("{root}.foo.user"),
        format!("{root}2.foo.userevent"),
    ];
    check_matches(
        &mut p,
        &mut sub,
        subscription,
        &hits,
        &misses,
        &format!("{root}.m.userevent"),
    )
    .await
}

async fn event_per_matching_subscription(t: Target) -> Result<(), Failure> {
    let mut sub = Peer::join(&t).await?;
    let mut p = Peer::join(&t).await?;
    let root = unique(&sub, "multi");
    let topic = format!("{root}.a.b");
    let exact = subscribe(&mut sub, &topic).await?;
    let prefix = subscribe_with(
        &mut sub,
        &format!("{root}.a"),
        sub_match(MatchPolicy::Prefix),
    )
    .await?;
    let wildcard = subscribe_with(
        &mut sub,
        &format!("{root}..b"),
        sub_match(MatchPolicy::Wildcard),
    )
    .await?;
    let publication = publish_ack(
        &mut p,
        &topic,
        PublishOptions::default(),
        args!["once each"],
    )
    .await?;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let e = expect_event(&mut sub, "three EVENTs, one per matching subscription").await?;
        check(
            e.publication == publication,
            format!("EVENT of publication {publication}"),
            format!("publication {}", e.publication),
        )?;
        if e.subscription != exact {
            check(
                e.details.topic.as_ref().map(Uri::as_str) == Some(topic.as_str()),
                format!("Details.topic {topic} on a pattern subscription"),
                show_event(&e),
            )?;
        }
        seen.push(e.subscription);
    }
    seen.sort();
    let mut expected = vec![exact, prefix, wildcard];
    expected.sort();
    check(
        seen == expected,
        format!("one EVENT on each of {expected:?}"),
        format!("{seen:?}"),
    )?;
    sub.expect_nothing().await
}

async fn subscription_per_topic_and_policy(t: Target) -> Result<(), Failure> {
    let mut a = Peer::join(&t).await?;
    let mut b = Peer::join(&t).await?;
    let topic = unique(&a, "idpolicy");
    let prefix_a = subscribe_with(&mut a, &topic, sub_match(MatchPolicy::Prefix)).await?;
    let prefix_b = subscribe_with(&mut b, &topic, sub_match(MatchPolicy::Prefix)).await?;
    check(
        prefix_a == prefix_b,
        "one subscription ID for both prefix subscribers",
        format!("{prefix_a} and {prefix_b}"),
    )?;
    let exact_a = subscribe(&mut a, &topic).await?;
    let exact_b = subscribe(&mut b, &topic).await?;
    check(
        exact_a != prefix_a,
        "another subscription ID for the exact subscription",
        format!("{exact_a} for both"),
    )?;
    check(
        exact_a == exact_b,
        "one subscription ID for both exact subscribers",
        format!("{exact_a} and {exact_b}"),
    )
}

// ---- shareded_subscriptions -----------------------------------------------------------------

async fn sharded_options_accepted(t: Target) -> Result<(), Failure> {
    let roles = roles_adding(&[
        ("publisher", f::SHARDED_SUBSCRIPTION),
        ("subscriber", f::SHARDED_SUBSCRIPTION),
    ]);
    let mut sub = Peer::join_with(&t, roles.clone()).await?;
    let mut p = Peer::join_with(&t, roles).await?;
    let topic = unique(&sub, "sensor.temperature");
    let options = SubscribeOptions {
        nkey: Some("node23".into()),
        ..Default::default()
    };
    subscribe_with(&mut sub, &topic, options).await?;
    let options = PublishOptions {
        rkey: Some("sn239019".into()),
        ..Default::default()
    };
    publish_ack(&mut p, &topic, options, args![33.9])
        .await
        .map(|_| ())
}
