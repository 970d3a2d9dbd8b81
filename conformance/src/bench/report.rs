//! What a run reports: the figures, as a human table and as JSON.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The largest latency recorded: 10 minutes, in nanoseconds (longer ones count as this).
const MAX_LATENCY_NS: u64 = 600_000_000_000;

/// A latency histogram in nanoseconds (3 significant digits, 1 ns to 10 minutes).
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latency {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// The largest sample.
    pub max: f64,
    /// The mean.
    pub mean: f64,
}

impl Latency {
    /// The percentiles of a histogram of nanoseconds (all zero when it is empty).
    pub fn from_histogram(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency {
                count: 0,
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                max: 0.0,
                mean: 0.0,
            };
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            count: h.len(),
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            max: us(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// One run's report; [`Report::to_json`] is the shape `--json` writes.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always `wamp-bench`.
    pub tool: &'static str,
    /// The wamp-bench version.
    pub version: &'static str,
    /// `rpc`, `pubsub` or `connect`.
    pub scenario: &'static str,
    /// The router's URL.
    pub url: String,
    /// The realm.
    pub realm: String,
    /// `json`, `msgpack` or `cbor`.
    pub serializer: &'static str,
    /// The scenario's parameters.
    pub parameters: Parameters,
    /// The scenario's figures.
    pub figures: Figures,
    /// The load generator's own CPU use.
    pub load_generator: LoadGenerator,
}

/// A scenario's parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Parameters {
    /// `rpc`.
    Rpc(RpcParameters),
    /// `pubsub`.
    PubSub(PubSubParameters),
    /// `connect`.
    Connect(ConnectParameters),
}

/// Parameters of `rpc`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcParameters {
    /// Caller sessions.
    pub callers: u32,
    /// Calls in flight per caller.
    pub in_flight: u32,
    /// Bytes of the string argument.
    pub payload_bytes: usize,
    /// Measured seconds.
    pub duration_secs: f64,
    /// Warm-up seconds.
    pub warmup_secs: f64,
}

/// Parameters of `pubsub`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PubSubParameters {
    /// Publisher sessions.
    pub publishers: u32,
    /// Subscriber sessions.
    pub subscribers: u32,
    /// Bytes of the string argument.
    pub payload_bytes: usize,
    /// Total events per second asked for; `null` for unlimited (delivery-bounded).
    pub rate: Option<f64>,
    /// Unlimited rate: events in flight allowed over all publishers; `null` at a fixed rate.
    pub window: Option<u64>,
    /// Measured seconds.
    pub duration_secs: f64,
    /// Warm-up seconds.
    pub warmup_secs: f64,
    /// Seconds waited for in-flight events after the run.
    pub grace_secs: f64,
    /// Subscribers that never read (not counted in the figures).
    pub stalled_subscribers: u32,
    /// The router's process ID, when its memory was read.
    pub router_pid: Option<u32>,
}

/// Parameters of `connect`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectParameters {
    /// Sessions to open.
    pub sessions: u32,
    /// Sessions opened at the same time.
    pub parallel: u32,
    /// The router's process ID, when its memory was read.
    pub router_pid: Option<u32>,
}

/// A scenario's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Figures {
    /// `rpc`.
    Rpc(RpcFigures),
    /// `pubsub`.
    PubSub(PubSubFigures),
    /// `connect`.
    Connect(ConnectFigures),
}

/// Figures of `rpc` (over the measured window).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcFigures {
    /// Calls answered during the measured window.
    pub calls: u64,
    /// Calls answered per second.
    pub calls_per_sec: f64,
    /// Failed calls over the whole run, warm-up included (and calls still unanswered at the
    /// end of the grace period).
    pub errors: u64,
    /// The first errors seen (at most a few), to tell what went wrong.
    pub error_samples: Vec<String>,
    /// Round-trip latency, from sending CALL to receiving RESULT.
    pub latency_us: Latency,
}

/// Figures of `pubsub` (events published during the measured window).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PubSubFigures {
    /// Events published during the measured window, over all publishers.
    pub published: u64,
    /// Events published per second.
    pub published_per_sec: f64,
    /// Of those, events received, summed over subscribers.
    pub delivered: u64,
    /// Events delivered per second, summed over subscribers.
    pub delivered_per_sec: f64,
    /// Publish-to-receive latency.
    pub latency_us: Latency,
    /// Events lost, summed over subscribers.
    pub lost_total: u64,
    /// Events lost by each subscriber: published minus received.
    pub lost_per_subscriber: Vec<u64>,
    /// Unlimited rate: times a publisher gave up waiting for the slowest subscriber and sent
    /// anyway (its window was stuck for a second: events were lost).
    pub stalls: u64,
    /// Failed publishes, malformed or out-of-order events and sessions lost, over the whole
    /// run.
    pub errors: u64,
    /// The first errors seen (at most a few).
    pub error_samples: Vec<String>,
    /// The router's VmRSS once every session is set up, before publishing (with
    /// --router-pid).
    pub router_rss_before_bytes: Option<u64>,
    /// The highest VmRSS sampled during the run (with --router-pid).
    pub router_rss_peak_bytes: Option<u64>,
    /// The router's VmRSS at the end of the grace period, sessions still open (with
    /// --router-pid).
    pub router_rss_after_bytes: Option<u64>,
}

/// Figures of `connect`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectFigures {
    /// Sessions opened and joined.
    pub opened: u64,
    /// Sessions opened and joined per second (from the first attempt to the last join).
    pub sessions_per_sec: f64,
    /// Sessions that failed to open or join.
    pub errors: u64,
    /// The first errors seen (at most a few).
    pub error_samples: Vec<String>,
    /// From starting to connect to WELCOME.
    pub join_latency_us: Latency,
    /// The router's VmRSS before, in bytes (with --router-pid).
    pub router_rss_before_bytes: Option<u64>,
    /// The router's VmRSS with every session open, in bytes (with --router-pid).
    pub router_rss_after_bytes: Option<u64>,
    /// (after - before) / opened (with --router-pid).
    pub router_bytes_per_session: Option<f64>,
}

/// How busy the load generator itself was during the measured part of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadGenerator {
    /// Cores available to wamp-bench (its worker threads).
    pub cores: usize,
    /// CPU seconds wamp-bench used (user + system).
    pub cpu_secs: f64,
    /// Wall-clock seconds of the measurement.
    pub wall_secs: f64,
    /// `cpu_secs / (wall_secs * cores)`: 1.0 is every core busy.
    pub cpu_utilization: f64,
    /// Above 90%: the figures may be limited by wamp-bench rather than the router.
    pub saturated: bool,
}

/// The share of the available cores above which wamp-bench warns it was the bottleneck.
pub const SATURATION: f64 = 0.9;

/// The warning printed when wamp-bench saturated its CPU.
pub const SATURATION_WARNING: &str =
    "load generator saturated its CPU: figures may be limited by wamp-bench";

impl LoadGenerator {
    /// From CPU seconds used over `wall_secs` on `cores` cores.
    pub fn new(cores: usize, cpu_secs: f64, wall_secs: f64) -> LoadGenerator {
        let capacity = wall_secs * cores.max(1) as f64;
        let cpu_utilization = if capacity > 0.0 {
            cpu_secs / capacity
        } else {
            0.0
        };
        LoadGenerator {
            cores,
            cpu_secs,
            wall_secs,
            cpu_utilization,
            saturated: cpu_utilization > SATURATION,
        }
    }
}

/// Events or calls per second, 0 for an empty window.
pub fn per_sec(count: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

impl Report {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// The human table: a heading, then one figure per line.
    pub fn to_table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |k: &str, v: String| rows.push((k.to_owned(), v));
        let params = match &self.parameters {
            Parameters::Rpc(p) => format!(
                "{} caller(s), {} in flight each, {} B payload, {} s measured after {} s warm-up",
                p.callers, p.in_flight, p.payload_bytes, p.duration_secs, p.warmup_secs
            ),
            Parameters::PubSub(p) => format!(
                "{} publisher(s), {} subscriber(s), {} B payload, rate {}, {} s measured after {} s warm-up",
                p.publishers,
                p.subscribers,
                p.payload_bytes,
                match (p.rate, p.window) {
                    (Some(r), _) => format!("{r} events/s"),
                    (None, Some(w)) => format!("unlimited (window {w})"),
                    (None, None) => "unlimited".to_owned(),
                },
                p.duration_secs,
                p.warmup_secs
            ),
            Parameters::Connect(p) => format!(
                "{} sessions, {} opened at a time",
                p.sessions, p.parallel
            ),
        };
        let latency = |row: &mut dyn FnMut(&str, String), name: &str, l: &Latency| {
            row(
                &format!("{name} p50 / p90 / p99"),
                format!(
                    "{} / {} / {} µs",
                    fmt_us(l.p50),
                    fmt_us(l.p90),
                    fmt_us(l.p99)
                ),
            );
            row(&format!("{name} max"), format!("{} µs", fmt_us(l.max)));
        };
        match &self.figures {
            Figures::Rpc(f) => {
                row("calls", f.calls.to_string());
                row("calls/s", format!("{:.0}", f.calls_per_sec));
                latency(&mut row, "latency", &f.latency_us);
                row("errors", f.errors.to_string());
            }
            Figures::PubSub(f) => {
                row("published", f.published.to_string());
                row("published/s", format!("{:.0}", f.published_per_sec));
                row("delivered", f.delivered.to_string());
                row("delivered/s", format!("{:.0}", f.delivered_per_sec));
                latency(&mut row, "latency", &f.latency_us);
                let losers = f.lost_per_subscriber.iter().filter(|&&l| l > 0).count();
                let worst = f.lost_per_subscriber.iter().copied().max().unwrap_or(0);
                row(
                    "lost",
                    format!(
                        "{} ({} of {} subscribers lost events; at most {} each)",
                        f.lost_total,
                        losers,
                        f.lost_per_subscriber.len(),
                        worst
                    ),
                );
                if f.stalls > 0 {
                    row("window stalls", f.stalls.to_string());
                }
                row("errors", f.errors.to_string());
                if let (Some(b), Some(p), Some(a)) = (
                    f.router_rss_before_bytes,
                    f.router_rss_peak_bytes,
                    f.router_rss_after_bytes,
                ) {
                    row(
                        "router RSS before / peak / after",
                        format!("{} / {} / {}", fmt_bytes(b), fmt_bytes(p), fmt_bytes(a)),
                    );
                }
            }
            Figures::Connect(f) => {
                row("sessions opened", f.opened.to_string());
                row("sessions/s", format!("{:.0}", f.sessions_per_sec));
                latency(&mut row, "join latency", &f.join_latency_us);
                row("errors", f.errors.to_string());
                if let (Some(b), Some(a)) = (f.router_rss_before_bytes, f.router_rss_after_bytes) {
                    row("router RSS before", fmt_bytes(b));
                    row("router RSS after", fmt_bytes(a));
                }
                if let Some(per) = f.router_bytes_per_session {
                    row("router bytes/session", format!("{per:.0}"));
                }
            }
        }
        let g = &self.load_generator;
        row(
            "wamp-bench CPU",
            format!(
                "{:.2} of {} cores ({:.0}%)",
                g.cpu_secs / g.wall_secs.max(f64::MIN_POSITIVE),
                g.cores,
                g.cpu_utilization * 100.0
            ),
        );
        let mut out = format!(
            "wamp-bench {} on {} (realm {}, {})\n{}\n\n",
            self.scenario, self.url, self.realm, self.serializer, params
        );
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (k, v) in &rows {
            let _ = writeln!(out, "  {k:<width$}  {v}");
        }
        let samples = match &self.figures {
            Figures::Rpc(f) => &f.error_samples,
            Figures::PubSub(f) => &f.error_samples,
            Figures::Connect(f) => &f.error_samples,
        };
        for e in samples {
            let _ = writeln!(out, "  error: {e}");
        }
        if g.saturated {
            let _ = writeln!(out, "warning: {SATURATION_WARNING}");
        }
        out
    }
}

fn fmt_us(us: f64) -> String {
    if us >= 100.0 {
        format!("{us:.0}")
    } else {
        format!("{us:.1}")
    }
}

fn fmt_bytes(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

/// Collects the first few error messages of a run.
#[derive(Debug, Default, Clone)]
pub struct ErrorLog {
    /// Errors counted.
    pub count: u64,
    /// The first [`ErrorLog::SAMPLES`] messages.
    pub samples: Vec<String>,
}

impl ErrorLog {
    /// Messages kept.
    pub const SAMPLES: usize = 5;

    /// Counts an error and keeps its message if it is among the first.
    pub fn push(&mut self, message: impl std::fmt::Display) {
        self.count += 1;
        if self.samples.len() < Self::SAMPLES {
            self.samples.push(message.to_string());
        }
    }

    /// Adds another log's errors.
    pub fn merge(&mut self, other: ErrorLog) {
        self.count += other.count;
        for s in other.samples {
            if self.samples.len() < Self::SAMPLES {
                self.samples.push(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = latency_histogram();
        // 1..=1000 µs, one sample each.
        for us in 1..=1000u64 {
            h.record(us * 1000).unwrap();
        }
        let l = Latency::from_histogram(&h);
        assert_eq!(l.count, 1000);
        // Three significant digits: within 0.1%.
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(close(l.p50, 500.0), "p50 {}", l.p50);
        assert!(close(l.p90, 900.0), "p90 {}", l.p90);
        assert!(close(l.p99, 990.0), "p99 {}", l.p99);
        assert!(close(l.max, 1000.0), "max {}", l.max);
        assert!(close(l.mean, 500.5), "mean {}", l.mean);
    }

    #[test]
    fn empty_histogram_reports_zeros() {
        let l = Latency::from_histogram(&latency_histogram());
        assert_eq!(l.count, 0);
        assert_eq!((l.p50, l.p99, l.max), (0.0, 0.0, 0.0));
    }

    #[test]
    fn merged_histograms_and_outliers() {
        let mut a = latency_histogram();
        let mut b = latency_histogram();
        for _ in 0..99 {
            a.record(10_000).unwrap();
        }
        b.record(5_000_000).unwrap();
        // Beyond the upper bound: clamped, not lost.
        b.saturating_record(u64::MAX);
        a.add(&b).unwrap();
        let l = Latency::from_histogram(&a);
        assert_eq!(l.count, 101);
        assert!((l.p50 - 10.0).abs() < 0.01, "{}", l.p50);
        assert!(l.max >= 599_000_000.0, "{}", l.max);
    }

    #[test]
    fn load_generator_saturation() {
        let g = LoadGenerator::new(2, 1.0, 1.0);
        assert_eq!(g.cpu_utilization, 0.5);
        assert!(!g.saturated);
        let g = LoadGenerator::new(2, 1.9, 1.0);
        assert!(g.saturated);
        assert_eq!(LoadGenerator::new(2, 1.0, 0.0).cpu_utilization, 0.0);
    }

    #[test]
    fn error_log_keeps_the_first_samples() {
        let mut log = ErrorLog::default();
        for i in 0..8 {
            log.push(format!("e{i}"));
        }
        let mut other = ErrorLog::default();
        other.push("x");
        log.merge(other);
        assert_eq!(log.count, 9);
        assert_eq!(log.samples, ["e0", "e1", "e2", "e3", "e4"]);
    }

    fn sample(figures: Figures, parameters: Parameters, scenario: &'static str) -> Report {
        Report {
            tool: "wamp-bench",
            version: "0.1.0",
            scenario,
            url: "ws://127.0.0.1:8080/ws".into(),
            realm: "realm1".into(),
            serializer: "json",
            parameters,
            figures,
            load_generator: LoadGenerator::new(2, 1.9, 1.0),
        }
    }

    fn latency() -> Latency {
        Latency {
            count: 10,
            p50: 1.0,
            p90: 2.0,
            p99: 3.0,
            max: 4.0,
            mean: 1.5,
        }
    }

    #[test]
    fn rpc_json_shape() {
        let r = sample(
            Figures::Rpc(RpcFigures {
                calls: 10,
                calls_per_sec: 5.0,
                errors: 0,
                error_samples: vec![],
                latency_us: latency(),
            }),
            Parameters::Rpc(RpcParameters {
                callers: 1,
                in_flight: 2,
                payload_bytes: 64,
                duration_secs: 2.0,
                warmup_secs: 0.0,
            }),
            "rpc",
        );
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let want = serde_json::json!({
            "tool": "wamp-bench",
            "version": "0.1.0",
            "scenario": "rpc",
            "url": "ws://127.0.0.1:8080/ws",
            "realm": "realm1",
            "serializer": "json",
            "parameters": {"callers": 1, "in_flight": 2, "payload_bytes": 64, "duration_secs": 2.0, "warmup_secs": 0.0},
            "figures": {
                "calls": 10, "calls_per_sec": 5.0, "errors": 0, "error_samples": [],
                "latency_us": {"count": 10, "p50": 1.0, "p90": 2.0, "p99": 3.0, "max": 4.0, "mean": 1.5}
            },
            "load_generator": {"cores": 2, "cpu_secs": 1.9, "wall_secs": 1.0, "cpu_utilization": 0.95, "saturated": true}
        });
        assert_eq!(v, want);
        let table = r.to_table();
        assert!(table.contains("calls/s"), "{table}");
        assert!(table.contains(SATURATION_WARNING), "{table}");
    }

    #[test]
    fn pubsub_and_connect_json_shape() {
        let r = sample(
            Figures::PubSub(PubSubFigures {
                published: 100,
                published_per_sec: 100.0,
                delivered: 198,
                delivered_per_sec: 198.0,
                latency_us: latency(),
                lost_total: 2,
                lost_per_subscriber: vec![0, 2],
                stalls: 0,
                errors: 0,
                error_samples: vec![],
                router_rss_before_bytes: Some(10 << 20),
                router_rss_peak_bytes: Some(30 << 20),
                router_rss_after_bytes: Some(20 << 20),
            }),
            Parameters::PubSub(PubSubParameters {
                publishers: 1,
                subscribers: 2,
                payload_bytes: 64,
                rate: None,
                window: Some(256),
                duration_secs: 1.0,
                warmup_secs: 0.0,
                grace_secs: 2.0,
                stalled_subscribers: 1,
                router_pid: Some(42),
            }),
            "pubsub",
        );
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["scenario"], "pubsub");
        assert_eq!(v["parameters"]["rate"], serde_json::Value::Null);
        assert_eq!(v["parameters"]["window"], 256);
        assert_eq!(v["figures"]["delivered_per_sec"], 198.0);
        assert_eq!(
            v["figures"]["lost_per_subscriber"],
            serde_json::json!([0, 2])
        );
        assert_eq!(v["figures"]["latency_us"]["p99"], 3.0);
        assert!(r.to_table().contains("1 of 2 subscribers lost events"));

        let r = sample(
            Figures::Connect(ConnectFigures {
                opened: 10,
                sessions_per_sec: 100.0,
                errors: 0,
                error_samples: vec![],
                join_latency_us: latency(),
                router_rss_before_bytes: Some(1000),
                router_rss_after_bytes: Some(21000),
                router_bytes_per_session: Some(2000.0),
            }),
            Parameters::Connect(ConnectParameters {
                sessions: 10,
                parallel: 4,
                router_pid: Some(42),
            }),
            "connect",
        );
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["parameters"]["router_pid"], 42);
        assert_eq!(v["figures"]["sessions_per_sec"], 100.0);
        assert_eq!(v["figures"]["join_latency_us"]["count"], 10);
        assert_eq!(v["figures"]["router_bytes_per_session"], 2000.0);
        assert!(r.to_table().contains("router bytes/session"));
    }
}
