//! The `pubsub` scenario: P publishers, S subscribers of one topic. The rate control and the
//! loss accounting are described in the [module documentation](super#pubsub-rate-control).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hdrhistogram::Histogram;
use nexus_tokio::{Client, Dict, Error, Payload, Subscription, Value};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinSet;

use super::cli::{PubSubArgs, Target};
use super::report::{
    latency_histogram, per_sec, ErrorLog, Figures, Latency, LoadGenerator, Parameters,
    PubSubFigures, PubSubParameters,
};
use super::stalled::StalledSubscriber;
use super::sys::RssSampler;
use super::{close_all, open_many, unique_uri, BenchError, Plan};

/// How long a publisher waits for a full window to free before sending anyway.
const STALL: Duration = Duration::from_secs(1);

/// How long publishers may take to stop after the end of the run.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a fixed-rate publisher checks its schedule.
const TICK: Duration = Duration::from_millis(1);

/// What one subscriber has confirmed of one publisher's events. Padded to its own cache
/// lines: a subscriber writes it on every event while the publisher reads it.
#[repr(align(128))]
struct Confirmed {
    /// The highest sequence number received (0: none).
    seen: AtomicU64,
    /// The number the publisher waits for (`u64::MAX`: nobody waits).
    wanted: AtomicU64,
    /// Woken when `seen` reaches `wanted`.
    reached: Notify,
}

impl Confirmed {
    fn new() -> Confirmed {
        Confirmed {
            seen: AtomicU64::new(0),
            wanted: AtomicU64::new(u64::MAX),
            reached: Notify::new(),
        }
    }

    fn seen(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }

    /// The subscriber received event `seq`.
    fn saw(&self, seq: u64) {
        self.seen.store(seq, Ordering::SeqCst);
        if seq >= self.wanted.load(Ordering::SeqCst) {
            self.reached.notify_one();
        }
    }

    /// Waits until the subscriber has seen `target`, or `deadline`; whether it got there.
    async fn wait(&self, target: u64, deadline: tokio::time::Instant) -> bool {
        // Either this load sees the subscriber's store, or the subscriber sees `wanted` and
        // leaves a permit in `reached`: no wake-up is lost.
        let reached = loop {
            self.wanted.store(target, Ordering::SeqCst);
            if self.seen() >= target {
                break true;
            }
            if tokio::time::timeout_at(deadline, self.reached.notified())
                .await
                .is_err()
            {
                break self.seen() >= target;
            }
        };
        self.wanted.store(u64::MAX, Ordering::SeqCst);
        reached
    }
}

/// Every subscriber's confirmations of every publisher's events.
struct Board {
    publishers: usize,
    subscribers: usize,
    confirmed: Vec<Confirmed>,
}

impl Board {
    fn new(publishers: usize, subscribers: usize) -> Board {
        Board {
            publishers,
            subscribers,
            confirmed: (0..publishers * subscribers)
                .map(|_| Confirmed::new())
                .collect(),
        }
    }

    fn get(&self, subscriber: usize, publisher: usize) -> &Confirmed {
        &self.confirmed[subscriber * self.publishers + publisher]
    }

    /// The highest sequence number of `publisher` every subscriber has seen.
    fn min_seen(&self, publisher: usize) -> u64 {
        (0..self.subscribers)
            .map(|s| self.get(s, publisher).seen())
            .min()
            .unwrap_or(u64::MAX)
    }
}

/// How publishers pace themselves.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// At most this many events unconfirmed by the slowest subscriber.
    Window(u64),
    /// This many events per second, per publisher.
    Rate(f64),
}

struct PublisherTally {
    /// Events published in the measured window.
    measured: u64,
    /// The last sequence number published.
    last_seq: u64,
    stalls: u64,
    errors: ErrorLog,
}

struct SubscriberTally {
    /// Measured-window events received.
    received: u64,
    histogram: Histogram<u64>,
    errors: ErrorLog,
}

pub(super) async fn run(
    target: &Target,
    args: &PubSubArgs,
) -> Result<(Parameters, Figures, LoadGenerator), BenchError> {
    let topic: Arc<str> = unique_uri("events").into();
    let p_count = args.publishers as usize;
    let s_count = args.subscribers as usize;
    let subscribers = open_many(target, args.subscribers).await?;
    let mut subscriptions = Vec::with_capacity(s_count);
    for client in &subscribers {
        subscriptions.push(client.subscribe(&topic).await.map_err(|source| {
            BenchError::Subscribe {
                topic: topic.to_string(),
                source: Box::new(source),
            }
        })?);
    }
    let mut stalled = Vec::with_capacity(args.stalled_subscribers as usize);
    for _ in 0..args.stalled_subscribers {
        stalled.push(StalledSubscriber::open(target, &topic).await?);
    }
    let publishers = open_many(target, args.publishers).await?;
    // A probe (sequence number 0, ignored by subscribers): the router accepts our publishes.
    publishers[0]
        .publish(&*topic)
        .payload(Payload::new(
            event_args(0, 0, 0, false, Value::Null),
            Dict::new(),
        ))
        .acknowledged()
        .await
        .map_err(|source| BenchError::Publish {
            topic: topic.to_string(),
            source: Box::new(source),
        })?;

    let board = Arc::new(Board::new(p_count, s_count));
    let pace = match args.rate {
        Some(rate) => Pace::Rate(rate / p_count as f64),
        None => Pace::Window((args.window / p_count as u64).max(1)),
    };
    let payload = Value::String("x".repeat(args.payload));
    let plan = Plan::new(&args.timing);

    let mut stops = Vec::with_capacity(s_count);
    let mut receivers = JoinSet::new();
    for (index, subscription) in subscriptions.into_iter().enumerate() {
        let (stop, stopped) = oneshot::channel();
        stops.push(stop);
        receivers.spawn(receive(index, subscription, board.clone(), plan, stopped));
    }
    let memory = args.router_pid.map(RssSampler::start).transpose()?;
    let mut senders = JoinSet::new();
    for (index, client) in publishers.iter().enumerate() {
        senders.spawn(publish(
            index,
            client.clone(),
            topic.clone(),
            payload.clone(),
            board.clone(),
            plan,
            pace,
        ));
    }
    let load = plan.measure_cpu().await;

    // The publishers stop at the end of the run.
    let mut errors = ErrorLog::default();
    let mut published = 0;
    let mut stalls = 0;
    let mut last_seq = vec![0u64; p_count];
    let stop_deadline = tokio::time::Instant::from(plan.end) + STALL + STOP_TIMEOUT;
    loop {
        match tokio::time::timeout_at(stop_deadline, senders.join_next()).await {
            Ok(Some(Ok((index, tally)))) => {
                published += tally.measured;
                stalls += tally.stalls;
                last_seq[index] = tally.last_seq;
                errors.merge(tally.errors);
            }
            Ok(Some(Err(e))) => errors.push(format!("a publisher task failed: {e}")),
            Ok(None) => break,
            Err(_) => {
                errors.push("a publisher did not stop at the end of the run");
                senders.abort_all();
                break;
            }
        }
    }

    // Events still in flight: wait up to the grace period for every subscriber to have seen
    // each publisher's last event; whatever is still missing then is lost.
    let grace_deadline =
        tokio::time::Instant::now() + Duration::from_secs_f64(args.grace.min(3600.0));
    for s in 0..s_count {
        for (p, &last) in last_seq.iter().enumerate() {
            if last > 0 {
                board.get(s, p).wait(last, grace_deadline).await;
            }
        }
    }
    for stop in stops {
        let _ = stop.send(());
    }
    let mut histogram = latency_histogram();
    let mut received = vec![0u64; s_count];
    while let Some(joined) = receivers.join_next().await {
        match joined {
            Ok((index, tally)) => {
                histogram
                    .add(&tally.histogram)
                    .expect("same histogram bounds");
                received[index] = tally.received;
                errors.merge(tally.errors);
            }
            Err(e) => errors.push(format!("a subscriber task failed: {e}")),
        }
    }
    let memory = match memory {
        Some(sampler) => Some(sampler.stop().await?),
        None => None,
    };
    drop(stalled);
    close_all(&publishers).await;
    close_all(&subscribers).await;

    let delivered: u64 = received.iter().sum();
    let lost_per_subscriber: Vec<u64> = received
        .iter()
        .map(|&r| published.saturating_sub(r))
        .collect();
    let parameters = Parameters::PubSub(PubSubParameters {
        publishers: args.publishers,
        subscribers: args.subscribers,
        payload_bytes: args.payload,
        rate: args.rate,
        window: args.rate.is_none().then_some(args.window),
        duration_secs: args.timing.duration,
        warmup_secs: args.timing.warmup,
        grace_secs: args.grace,
        stalled_subscribers: args.stalled_subscribers,
        router_pid: args.router_pid,
    });
    let figures = Figures::PubSub(PubSubFigures {
        published,
        published_per_sec: per_sec(published, plan.measured_secs()),
        delivered,
        delivered_per_sec: per_sec(delivered, plan.measured_secs()),
        latency_us: Latency::from_histogram(&histogram),
        lost_total: lost_per_subscriber.iter().sum(),
        lost_per_subscriber,
        stalls,
        errors: errors.count,
        error_samples: errors.samples,
        router_rss_before_bytes: memory.map(|m| m.before),
        router_rss_peak_bytes: memory.map(|m| m.peak),
        router_rss_after_bytes: memory.map(|m| m.after),
    });
    Ok((parameters, figures, load))
}

/// An event's positional arguments: send time, publisher, sequence number, measured, payload.
fn event_args(
    sent_ns: u64,
    publisher: usize,
    seq: u64,
    measured: bool,
    payload: Value,
) -> Vec<Value> {
    vec![
        Value::UInt(sent_ns),
        Value::UInt(publisher as u64),
        Value::UInt(seq),
        Value::Bool(measured),
        payload,
    ]
}

/// The send time, publisher, sequence number and measured flag of an event.
fn parse_event(args: &[Value]) -> Option<(u64, usize, u64, bool)> {
    Some((
        args.first()?.as_u64()?,
        usize::try_from(args.get(1)?.as_u64()?).ok()?,
        args.get(2)?.as_u64()?,
        args.get(3)?.as_bool()?,
    ))
}

/// One publisher: publishes until the end of the run, paced by `pace`.
async fn publish(
    index: usize,
    client: Client,
    topic: Arc<str>,
    payload: Value,
    board: Arc<Board>,
    plan: Plan,
    pace: Pace,
) -> (usize, PublisherTally) {
    let mut tally = PublisherTally {
        measured: 0,
        last_seq: 0,
        stalls: 0,
        errors: ErrorLog::default(),
    };
    let sender = Sender {
        index,
        client,
        topic,
        payload,
        plan,
    };
    match pace {
        Pace::Window(window) => {
            // A lower bound of what every subscriber has seen, refreshed only when the window
            // looks full: most events need no look at the board.
            let mut floor = 0u64;
            loop {
                let next = tally.last_seq + 1;
                if next > floor.saturating_add(window) {
                    let need = next - window;
                    floor = board.min_seen(index);
                    if floor < need {
                        // Wait until the slow subscribers free a quarter of the window.
                        let target = (need + window / 4).min(tally.last_seq);
                        let deadline = tokio::time::Instant::now() + STALL;
                        let mut stalled = false;
                        for s in 0..board.subscribers {
                            let confirmed = board.get(s, index);
                            if confirmed.seen() < need && !confirmed.wait(target, deadline).await {
                                stalled = true;
                            }
                        }
                        floor = board.min_seen(index);
                        if stalled && floor < need {
                            // The missing events are lost: grant a fresh window.
                            tally.stalls += 1;
                            floor = tally.last_seq;
                        }
                    }
                }
                let now = Instant::now();
                if now >= plan.end || !sender.send(&mut tally, now).await {
                    break;
                }
            }
        }
        Pace::Rate(per_sec) => {
            let mut ticker = tokio::time::interval(TICK);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut attempts = 0u64;
            'run: loop {
                ticker.tick().await;
                let now = Instant::now();
                if now >= plan.end {
                    break;
                }
                let due = ((now - plan.epoch).as_secs_f64() * per_sec) as u64;
                while attempts < due {
                    attempts += 1;
                    let now = Instant::now();
                    if now >= plan.end || !sender.send(&mut tally, now).await {
                        break 'run;
                    }
                }
            }
        }
    }
    (index, tally)
}

/// What a publisher sends with.
struct Sender {
    index: usize,
    client: Client,
    topic: Arc<str>,
    payload: Value,
    plan: Plan,
}

impl Sender {
    /// Publishes event `last_seq + 1`, stamped `now`; false when the session is gone.
    async fn send(&self, tally: &mut PublisherTally, now: Instant) -> bool {
        let seq = tally.last_seq + 1;
        let measured = self.plan.measured(now);
        let args = event_args(
            self.plan.nanos(now),
            self.index,
            seq,
            measured,
            self.payload.clone(),
        );
        match self
            .client
            .publish(&*self.topic)
            .payload(Payload::new(args, Dict::new()))
            .await
        {
            Ok(()) => {
                tally.last_seq = seq;
                tally.measured += u64::from(measured);
                true
            }
            Err(Error::Closed) => {
                let index = self.index;
                tally
                    .errors
                    .push(format!("publisher {index}'s session closed"));
                false
            }
            Err(e) => {
                tally.errors.push(format!("publish failed: {e}"));
                true
            }
        }
    }
}

/// One subscriber: records every event until told to stop.
async fn receive(
    index: usize,
    subscription: Subscription,
    board: Arc<Board>,
    plan: Plan,
    stop: oneshot::Receiver<()>,
) -> (usize, SubscriberTally) {
    let mut tally = SubscriberTally {
        received: 0,
        histogram: latency_histogram(),
        errors: ErrorLog::default(),
    };
    let mut last = vec![0u64; board.publishers];
    let mut events = subscription.take_until(stop);
    while let Some(item) = events.next().await {
        let now = plan.nanos(Instant::now());
        let event = match item {
            Ok(event) => event,
            // A gap (the client's queue was full): the sequence numbers count what is lost.
            Err(e) => {
                tally.errors.push(format!("subscriber {index}: {e}"));
                continue;
            }
        };
        let Some((sent, publisher, seq, measured)) = parse_event(&event.args) else {
            tally
                .errors
                .push(format!("subscriber {index} received a malformed event"));
            continue;
        };
        if seq == 0 {
            continue; // the probe
        }
        let Some(previous) = last.get_mut(publisher) else {
            tally.errors.push(format!(
                "subscriber {index} received an event from unknown publisher {publisher}"
            ));
            continue;
        };
        if seq <= *previous {
            tally.errors.push(format!(
                "subscriber {index} received event {seq} of publisher {publisher} after event {previous}"
            ));
            continue;
        }
        *previous = seq;
        board.get(index, publisher).saw(seq);
        if measured {
            tally.received += 1;
            tally
                .histogram
                .saturating_record(now.saturating_sub(sent).max(1));
        }
    }
    if !events.is_stopped() {
        tally
            .errors
            .push(format!("subscriber {index}'s session ended during the run"));
    }
    (index, tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_arguments_round_trip() {
        let args = event_args(123, 4, 5, true, Value::String("xx".into()));
        assert_eq!(parse_event(&args), Some((123, 4, 5, true)));
        assert_eq!(parse_event(&args[..3]), None);
        assert_eq!(parse_event(&[Value::String("x".into())]), None);
    }

    #[tokio::test]
    async fn a_confirmation_wakes_the_waiting_publisher() {
        let board = Arc::new(Board::new(1, 2));
        let far = tokio::time::Instant::now() + Duration::from_secs(30);
        let b = board.clone();
        let waiter = tokio::spawn(async move { b.get(1, 0).wait(5, far).await });
        board.get(0, 0).saw(7);
        board.get(1, 0).saw(3);
        board.get(1, 0).saw(5);
        assert!(waiter.await.unwrap());
        assert_eq!(board.min_seen(0), 5);
        // Gaps (lost events) still confirm: 9 confirms 6, 7 and 8.
        board.get(1, 0).saw(9);
        assert!(board.get(1, 0).wait(8, far).await);
    }

    #[tokio::test]
    async fn a_stuck_confirmation_times_out() {
        let c = Confirmed::new();
        c.saw(1);
        let soon = tokio::time::Instant::now() + Duration::from_millis(10);
        assert!(!c.wait(2, soon).await);
        assert_eq!(c.wanted.load(Ordering::SeqCst), u64::MAX);
    }
}
