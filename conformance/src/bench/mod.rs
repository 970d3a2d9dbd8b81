//! `wamp-bench`: a load generator for any WAMP v2 router.
//!
//! Three scenarios, each run against a router URL with one serializer:
//!
//! - `rpc`: one callee that echoes its arguments, N callers with K calls in flight each;
//!   calls per second and round-trip latency percentiles.
//! - `pubsub`: P publishers and S subscribers of one topic; delivered events per second,
//!   publish-to-receive latency and events lost per subscriber. Without `--rate`, each
//!   publisher is paced by delivery (see [`pubsub`](self#pubsub-rate-control)); with it,
//!   the publishers keep the given total rate whatever happens (open loop).
//! - `connect`: opens and joins C idle sessions as fast as possible; sessions per second,
//!   join latency and, with the router's PID, its resident memory per session.
//!
//! Every session is its own connection and client. Figures count only the measured window,
//! after the warm-up. wamp-bench measures its own CPU use over that window and flags
//! ([`LoadGenerator::saturated`]) when it used more than 90% of its cores: then the figures
//! may say more about wamp-bench than about the router.
//!
//! # Pub/sub rate control
//!
//! Every event carries, in its positional arguments: the send time (nanoseconds since an
//! [`Instant`] shared by the whole process, so publisher and subscriber clocks agree), the
//! publisher's index, a sequence number (1, 2, ... per publisher), whether it was published
//! in the measured window, then the payload string.
//!
//! Unlimited rate is closed-loop: a publisher may be at most `window / P` events ahead of the
//! slowest subscriber. Each subscriber records the highest sequence number it received from
//! each publisher; since a router delivers one publisher's events to one subscriber in order,
//! that number confirms every earlier event too, delivered or lost, so a lost event never
//! blocks the window. A publisher whose window stays full for a second (its last events were
//! lost and nothing later can confirm them) sends anyway and counts a stall. With the default
//! window (256 events) a router with a per-connection queue of a few thousand messages is
//! never pushed into dropping events: the figure is the delivery rate it sustains.
//!
//! With `--rate`, publishers send on schedule (checked every millisecond, catching up in
//! bursts when late) and never wait for subscribers: loss and latency show what the router
//! does under that load. The memory this can take is bounded by rate × duration.
//!
//! Loss: events published during the measured window, minus those each subscriber received.
//! After the publishers stop, wamp-bench waits up to `--grace` seconds for every subscriber to
//! have seen each publisher's last event; what has not arrived by then is lost.

pub mod cli;
mod connect;
pub mod error;
mod pubsub;
pub mod report;
mod rpc;
mod stalled;
pub mod sys;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nexus_tokio::{Client, ClientConfig};

pub use cli::{Cli, Scenario, Target};
pub use error::BenchError;
pub use report::{LoadGenerator, Report};

/// How long closing the sessions at the end may take before wamp-bench stops waiting.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `scenario` against `target` on the current tokio runtime (use a multi-threaded one
/// with a worker per core) and returns its report.
///
/// Errors are setup failures (the router cannot be reached, refuses the realm, a REGISTER or
/// SUBSCRIBE...); failures during the load are counted in the report instead.
pub async fn run(target: &Target, scenario: &Scenario) -> Result<Report, BenchError> {
    let (parameters, figures, load_generator) = match scenario {
        Scenario::Rpc(args) => rpc::run(target, args).await?,
        Scenario::Pubsub(args) => pubsub::run(target, args).await?,
        Scenario::Connect(args) => connect::run(target, args).await?,
    };
    Ok(Report {
        tool: "wamp-bench",
        version: env!("CARGO_PKG_VERSION"),
        scenario: scenario.name(),
        url: target.url.clone(),
        realm: target.realm.clone(),
        serializer: target.serializer.name(),
        parameters,
        figures,
        load_generator,
    })
}

/// The client settings of every benchmark session.
fn client_config(target: &Target) -> ClientConfig {
    let mut config = ClientConfig::new(target.realm.clone()).serializer(target.serializer);
    // Subscribers must never drop events themselves: a large buffer (only filled when
    // wamp-bench lags), so loss is the router's.
    config.event_buffer = 1 << 16;
    config
}

/// Opens one session; a failure is a setup error.
async fn open(target: &Target) -> Result<Client, BenchError> {
    nexus_tokio::connect(&target.url, client_config(target))
        .await
        .map_err(|source| BenchError::Connect {
            url: target.url.clone(),
            realm: target.realm.clone(),
            serializer: target.serializer.name(),
            source: Box::new(source),
        })
}

/// Opens `n` sessions, a few at a time.
async fn open_many(target: &Target, n: u32) -> Result<Vec<Client>, BenchError> {
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter((0..n).map(|_| open(target)))
        .buffer_unordered(32)
        .try_collect()
        .await
}

/// Leaves every session (GOODBYE), waiting at most [`CLOSE_TIMEOUT`].
async fn close_all(clients: &[Client]) {
    let all = futures::future::join_all(clients.iter().map(|c| c.close()));
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, all).await;
}

/// A URI no other run uses, so that several runs can share a router: `wamp_bench.PID_NANOS.name`.
fn unique_uri(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("wamp_bench.run_{}_{nanos}.{name}", std::process::id())
}

/// The timeline of a timed run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// When the load starts; timestamps in events count from here.
    epoch: Instant,
    /// The end of the warm-up.
    measure_start: Instant,
    /// The end of the run.
    end: Instant,
}

impl Plan {
    fn new(timing: &cli::Timing) -> Plan {
        let epoch = Instant::now();
        let measure_start = epoch + timing.warmup();
        Plan {
            epoch,
            measure_start,
            end: measure_start + timing.duration(),
        }
    }

    /// Whether `t` is in the measured window.
    fn measured(&self, t: Instant) -> bool {
        t >= self.measure_start && t < self.end
    }

    /// Nanoseconds since the epoch.
    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The measured window, in seconds.
    fn measured_secs(&self) -> f64 {
        (self.end - self.measure_start).as_secs_f64()
    }

    /// Waits for the end of the run, measuring wamp-bench's CPU over the measured window.
    async fn measure_cpu(&self) -> LoadGenerator {
        tokio::time::sleep_until(self.measure_start.into()).await;
        let meter = sys::CpuMeter::start();
        tokio::time::sleep_until(self.end.into()).await;
        meter.stop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_windows() {
        let plan = Plan::new(&cli::Timing {
            duration: 2.0,
            warmup: 1.0,
        });
        assert!(!plan.measured(plan.epoch));
        assert!(plan.measured(plan.measure_start));
        assert!(!plan.measured(plan.end));
        assert_eq!(plan.measured_secs(), 2.0);
        assert_eq!(plan.nanos(plan.measure_start), 1_000_000_000);
    }

    #[test]
    fn unique_uris_are_valid_and_distinct_per_name() {
        let a = unique_uri("echo");
        assert!(
            a.starts_with("wamp_bench.run_") && a.ends_with(".echo"),
            "{a}"
        );
        nexus_tokio::Uri::parse(a.clone()).unwrap();
        assert_ne!(unique_uri("events"), a);
    }
}
