//! The command line of `wamp-bench`.

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use nexus_tokio::Serializer;

/// wamp-bench: a load generator for any WAMP v2 router (RPC, pub/sub and session opening).
///
/// Every session is its own connection and client; the load runs on a multi-threaded runtime
/// with one worker per core. Figures exclude the warm-up.
#[derive(Debug, Clone, Parser)]
#[command(name = "wamp-bench", version, about)]
pub struct Cli {
    /// The router: ws://HOST:PORT/PATH (WebSocket), wss://..., tcp://HOST:PORT (RawSocket),
    /// tcps://..., unix:///PATH. Required.
    #[arg(long, value_name = "URL", global = true, help_heading = "Router")]
    pub url: Option<String>,
    /// The realm to join. Required.
    #[arg(long, value_name = "REALM", global = true, help_heading = "Router")]
    pub realm: Option<String>,
    /// The serializer every session uses.
    #[arg(long, value_enum, default_value_t = SerializerArg::Json, global = true, help_heading = "Router")]
    pub serializer: SerializerArg,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE", global = true, help_heading = "Output")]
    pub json: Option<PathBuf>,
    /// The scenario to run.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// A serializer name on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SerializerArg {
    /// JSON.
    Json,
    /// MessagePack.
    Msgpack,
    /// CBOR.
    Cbor,
}

impl SerializerArg {
    /// The nexus serializer.
    pub fn serializer(self) -> Serializer {
        match self {
            SerializerArg::Json => Serializer::Json,
            SerializerArg::Msgpack => Serializer::MsgPack,
            SerializerArg::Cbor => Serializer::Cbor,
        }
    }
}

/// What load to generate.
#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// One callee, N callers with K calls in flight each; reports calls/s and round-trip
    /// latency. The callee echoes its arguments.
    Rpc(RpcArgs),
    /// P publishers, S subscribers of one topic; reports delivered events/s, publish-to-receive
    /// latency and events lost per subscriber.
    Pubsub(PubSubArgs),
    /// Opens and joins C idle sessions as fast as possible; reports sessions/s, join latency
    /// and, with --router-pid, the router's resident memory per session.
    Connect(ConnectArgs),
}

impl Scenario {
    /// The scenario's name on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Rpc(_) => "rpc",
            Scenario::Pubsub(_) => "pubsub",
            Scenario::Connect(_) => "connect",
        }
    }
}

/// How long a timed scenario runs.
#[derive(Debug, Clone, Copy, Args)]
pub struct Timing {
    /// Measured seconds (after the warm-up).
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = seconds)]
    pub duration: f64,
    /// Warm-up seconds: load is generated but not counted.
    #[arg(long, value_name = "SECS", default_value_t = 2.0, value_parser = seconds)]
    pub warmup: f64,
}

impl Timing {
    /// The measured duration.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration)
    }

    /// The warm-up.
    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup)
    }
}

/// Options of the `rpc` scenario.
#[derive(Debug, Clone, Args)]
pub struct RpcArgs {
    /// Caller sessions.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub callers: u32,
    /// Calls in flight per caller.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub in_flight: u32,
    /// Size in bytes of the string argument of each call (echoed back).
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    pub payload: usize,
    /// Duration and warm-up.
    #[command(flatten)]
    pub timing: Timing,
}

/// Options of the `pubsub` scenario.
#[derive(Debug, Clone, Args)]
pub struct PubSubArgs {
    /// Publisher sessions.
    #[arg(long, value_name = "P", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub publishers: u32,
    /// Subscriber sessions, all on one topic.
    #[arg(long, value_name = "S", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub subscribers: u32,
    /// Size in bytes of the string argument of each event.
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    pub payload: usize,
    /// Total events per second over all publishers (open loop). Without it the rate is
    /// unlimited, bounded by delivery: see --window.
    #[arg(long, value_name = "EVENTS_PER_SEC", value_parser = positive_rate)]
    pub rate: Option<f64>,
    /// Unlimited rate only: events a publisher may have sent that the slowest subscriber has
    /// not yet received, over all publishers (each gets WINDOW / P, at least 1).
    #[arg(long, value_name = "EVENTS", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub window: u64,
    /// Extra subscriber sessions that subscribe and then never read: the router must bound
    /// what it holds for them while the others keep their rate. Not counted in the window,
    /// the deliveries or the losses.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub stalled_subscribers: u32,
    /// The router's process ID on this machine: its resident memory (VmRSS) is read before
    /// the publishers start, every 50 ms during the run (the peak) and after it.
    #[arg(long, value_name = "PID")]
    pub router_pid: Option<u32>,
    /// After the run, how long to wait for events still in flight before counting them lost.
    #[arg(long, value_name = "SECS", default_value_t = 2.0, value_parser = seconds)]
    pub grace: f64,
    /// Duration and warm-up.
    #[command(flatten)]
    pub timing: Timing,
}

/// Options of the `connect` scenario.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Idle sessions to open and keep open until the end.
    #[arg(long, value_name = "C", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub sessions: u32,
    /// Sessions being opened at the same time.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: u32,
    /// The router's process ID on this machine: its resident memory (VmRSS in
    /// /proc/PID/status) is read before and after, for the bytes per session.
    #[arg(long, value_name = "PID")]
    pub router_pid: Option<u32>,
}

/// The settings every scenario shares, validated.
#[derive(Debug, Clone)]
pub struct Target {
    /// The router's URL.
    pub url: String,
    /// The realm.
    pub realm: String,
    /// The serializer.
    pub serializer: Serializer,
}

impl Cli {
    /// Parses and validates the command line (`--url` and `--realm` may come before or after
    /// the scenario, but must be there).
    pub fn try_parse_checked<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args)?;
        cli.target()?;
        Ok(cli)
    }

    /// The URL, realm and serializer; an error naming the missing option otherwise.
    pub fn target(&self) -> Result<Target, clap::Error> {
        let missing = |what: &str| {
            Cli::command().error(
                ErrorKind::MissingRequiredArgument,
                format!("{what} is required (for example: wamp-bench --url ws://127.0.0.1:8080/ws --realm realm1 rpc)"),
            )
        };
        let url = self.url.clone().ok_or_else(|| missing("--url URL"))?;
        let realm = self.realm.clone().ok_or_else(|| missing("--realm REALM"))?;
        Ok(Target {
            url,
            realm,
            serializer: self.serializer.serializer(),
        })
    }
}

fn seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{s} is not a non-negative number of seconds"));
    }
    Ok(v)
}

fn positive_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of events per second"))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!(
            "the rate must be above 0 events per second (leave --rate out for unlimited), not {s}"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_checked(std::iter::once("wamp-bench").chain(args.iter().copied()))
    }

    #[test]
    fn rpc_defaults() {
        let cli = parse(&["--url", "ws://h:1/ws", "--realm", "r", "rpc"]).unwrap();
        let target = cli.target().unwrap();
        assert_eq!(target.url, "ws://h:1/ws");
        assert_eq!(target.realm, "r");
        assert_eq!(target.serializer, Serializer::Json);
        assert!(cli.json.is_none());
        let Scenario::Rpc(rpc) = cli.scenario else {
            panic!("not rpc")
        };
        assert_eq!((rpc.callers, rpc.in_flight, rpc.payload), (1, 1, 64));
        assert_eq!(rpc.timing.duration(), Duration::from_secs(10));
        assert_eq!(rpc.timing.warmup(), Duration::from_secs(2));
    }

    #[test]
    fn rpc_options_and_global_options_after_the_scenario() {
        let cli = parse(&[
            "rpc",
            "--callers",
            "4",
            "--in-flight",
            "100",
            "--payload",
            "1024",
            "--duration",
            "1.5",
            "--warmup",
            "0",
            "--url",
            "tcp://127.0.0.1:8081",
            "--realm",
            "realm1",
            "--serializer",
            "msgpack",
            "--json",
            "out.json",
        ])
        .unwrap();
        assert_eq!(cli.serializer.serializer(), Serializer::MsgPack);
        assert_eq!(cli.json.as_deref(), Some(std::path::Path::new("out.json")));
        let Scenario::Rpc(rpc) = cli.scenario else {
            panic!("not rpc")
        };
        assert_eq!((rpc.callers, rpc.in_flight, rpc.payload), (4, 100, 1024));
        assert_eq!(rpc.timing.duration(), Duration::from_millis(1500));
        assert_eq!(rpc.timing.warmup(), Duration::ZERO);
    }

    #[test]
    fn pubsub_defaults_and_rate() {
        let cli = parse(&["--url", "ws://h:1/ws", "--realm", "r", "pubsub"]).unwrap();
        let Scenario::Pubsub(p) = cli.scenario else {
            panic!("not pubsub")
        };
        assert_eq!((p.publishers, p.subscribers, p.payload), (1, 1, 64));
        assert_eq!(p.rate, None);
        assert_eq!(p.window, 256);
        assert_eq!(p.grace, 2.0);

        let cli = parse(&[
            "--url",
            "ws://h:1/ws",
            "--realm",
            "r",
            "--serializer",
            "cbor",
            "pubsub",
            "--publishers",
            "2",
            "--subscribers",
            "100",
            "--rate",
            "5000",
        ])
        .unwrap();
        assert_eq!(cli.serializer.serializer(), Serializer::Cbor);
        let Scenario::Pubsub(p) = cli.scenario else {
            panic!("not pubsub")
        };
        assert_eq!(
            (p.publishers, p.subscribers, p.rate),
            (2, 100, Some(5000.0))
        );
    }

    #[test]
    fn connect_defaults_and_pid() {
        let cli = parse(&["--url", "ws://h:1/ws", "--realm", "r", "connect"]).unwrap();
        let Scenario::Connect(c) = cli.scenario else {
            panic!("not connect")
        };
        assert_eq!((c.sessions, c.parallel, c.router_pid), (1000, 64, None));
        let cli = parse(&[
            "--url",
            "ws://h:1/ws",
            "--realm",
            "r",
            "connect",
            "--sessions",
            "10",
            "--router-pid",
            "1234",
        ])
        .unwrap();
        let Scenario::Connect(c) = cli.scenario else {
            panic!("not connect")
        };
        assert_eq!((c.sessions, c.router_pid), (10, Some(1234)));
    }

    #[test]
    fn missing_url_or_realm_is_an_error_that_names_it() {
        let e = parse(&["--realm", "r", "rpc"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
        assert!(e.to_string().contains("--url"), "{e}");
        let e = parse(&["--url", "ws://h:1/ws", "rpc"]).unwrap_err();
        assert!(e.to_string().contains("--realm"), "{e}");
    }

    #[test]
    fn bad_values_are_refused() {
        let base = ["--url", "ws://h:1/ws", "--realm", "r"];
        for bad in [
            &["rpc", "--callers", "0"][..],
            &["rpc", "--in-flight", "0"],
            &["rpc", "--duration", "-1"],
            &["rpc", "--duration", "soon"],
            &["pubsub", "--rate", "0"],
            &["pubsub", "--window", "0"],
            &["--serializer", "xml", "rpc"],
            &["connect", "--sessions", "0"],
            &["fly"],
        ] {
            let args: Vec<&str> = base.iter().chain(bad.iter()).copied().collect();
            assert!(parse(&args).is_err(), "{bad:?} was accepted");
        }
    }
}
