//! The reconnecting client against a router that restarts (used by
//! `interop/crossbar-restart/run.sh` with Crossbar): for each URL it registers, subscribes
//! and leaves a call in flight, prints `ready`, and then checks, while the script stops the
//! router and starts it again on the same ports, that the call in flight ends with
//! `ConnectionLost`, the event stream marks the gap, and that once the router is back
//! (the script writes `restarted` on stdin) the registration and subscription are restored
//! within a second, calls and events flow again. Prints `ok ...` per URL and exits 0, or
//! says what went wrong and exits 1.
//!
//! `reconnect_probe URL...`

use std::time::{Duration, Instant};

use futures::StreamExt;
use nexus_tokio::{
    Client, ClientConfig, ClientState, Error, Invocation, Missed, ReconnectPolicy,
    SubscriptionError, WampError,
};
use tokio::io::AsyncBufReadExt;

/// The longest any one step may take (Crossbar takes a few seconds to start).
const STEP: Duration = Duration::from_secs(60);

async fn step<T>(what: &str, f: impl std::future::IntoFuture<Output = T>) -> Result<T, String> {
    tokio::time::timeout(STEP, f.into_future())
        .await
        .map_err(|_| format!("{what}: nothing after {STEP:?}"))
}

/// One URL's client, set up before the restart.
struct Probe {
    url: String,
    /// This probe's URIs start with it (several probes share one router).
    prefix: String,
    client: Client,
    states: nexus_tokio::ClientStates,
    news: nexus_tokio::Subscription,
    _echo: nexus_tokio::Registration,
    in_flight: tokio::task::JoinHandle<Result<nexus_tokio::CallResponse, Error>>,
    _helper: Client,
}

async fn prepare(url: &str, n: usize) -> Result<Probe, String> {
    let prefix = format!("com.probe{n}");
    let e = |what: &str| {
        let what = what.to_owned();
        move |e: Error| format!("{url}: {what}: {e}")
    };
    let policy = ReconnectPolicy::new()
        .initial_delay(Duration::from_millis(50))
        .max_delay(Duration::from_millis(400));
    let config = ClientConfig::new("realm1").reconnect(policy);
    let client = step("connect", nexus_tokio::connect(url, config))
        .await?
        .map_err(e("connect"))?;
    let states = client.state();
    let echo = step(
        "register",
        client.register(format!("{prefix}.echo"), |inv: Invocation| async move {
            Ok(inv.arg::<String>(0)?)
        }),
    )
    .await?
    .map_err(e("register"))?;
    let news = step("subscribe", client.subscribe(format!("{prefix}.news")))
        .await?
        .map_err(e("subscribe"))?;
    // A callee that never answers, on a connection of its own, for the call in flight.
    let helper = step(
        "connect helper",
        nexus_tokio::connect(url, ClientConfig::new("realm1")),
    )
    .await?
    .map_err(e("connect helper"))?;
    let (invoked_tx, mut invoked) = futures::channel::mpsc::unbounded();
    step(
        "register stuck",
        helper.register(format!("{prefix}.stuck"), move |_inv: Invocation| {
            let _ = invoked_tx.unbounded_send(());
            futures::future::pending::<Result<(), WampError>>()
        }),
    )
    .await?
    .map_err(e("register stuck"))?
    .detach();
    let caller = client.clone();
    let stuck = format!("{prefix}.stuck");
    let in_flight = tokio::spawn(async move { caller.call(stuck).await });
    step("the call reaches the callee", invoked.next()).await?;
    Ok(Probe {
        url: url.to_owned(),
        prefix,
        client,
        states,
        news,
        _echo: echo,
        in_flight,
        _helper: helper,
    })
}

/// What happens while the router is away: the call in flight fails, the stream marks the gap.
async fn while_away(probe: &mut Probe) -> Result<(), String> {
    let url = probe.url.clone();
    match step("the call in flight", &mut probe.in_flight).await? {
        Ok(Err(Error::ConnectionLost { .. })) => {}
        other => {
            return Err(format!(
                "{url}: the call in flight should end with ConnectionLost, got {other:?}"
            ))
        }
    }
    match step("the gap", probe.news.next()).await? {
        Some(Err(SubscriptionError::Missed(Missed::Disconnected))) => Ok(()),
        other => Err(format!(
            "{url}: the stream should mark the gap, got {other:?}"
        )),
    }
}

/// When the client is joined again, with everything restored. The current state decides:
/// the stream may still hold a join to the old router made while it was shutting down.
async fn rejoined(probe: &mut Probe) -> Result<Instant, String> {
    let url = probe.url.clone();
    step("joined again", async {
        loop {
            match probe.client.current_state() {
                ClientState::Joined { .. } => return Ok(Instant::now()),
                ClientState::Stopped { reason } => return Err(format!("stopped: {reason}")),
                _ => {}
            }
            // Woken by the next change.
            if probe.states.next().await.is_none() {
                return Err("the state stream ended".to_owned());
            }
        }
    })
    .await?
    .map_err(|e| format!("{url}: {e}"))
}

/// After the router's return at `back`, the client joined again at `joined`: restored
/// within a second, and working.
async fn after_return(probe: &mut Probe, back: Instant, joined: Instant) -> Result<String, String> {
    let url = probe.url.clone();
    let prefix = probe.prefix.clone();
    let took = joined.saturating_duration_since(back);
    if took > Duration::from_secs(1) {
        return Err(format!(
            "{url}: restored {took:?} after the router's return (at most 1 s)"
        ));
    }
    let e = |what: &'static str| {
        let url = url.clone();
        move |e: Error| format!("{url}: {what}: {e}")
    };
    let other = step(
        "another client",
        nexus_tokio::connect(&url, ClientConfig::new("realm1")),
    )
    .await?
    .map_err(e("another client"))?;
    let echoed: String = step(
        "call the restored registration",
        other.call(format!("{prefix}.echo")).arg("again"),
    )
    .await?
    .map_err(e("call the restored registration"))?
    .arg(0)
    .map_err(|e| format!("{url}: {e}"))?;
    if echoed != "again" {
        return Err(format!("{url}: echo answered {echoed:?}"));
    }
    step(
        "publish",
        other
            .publish(format!("{prefix}.news"))
            .arg("after")
            .acknowledged(),
    )
    .await?
    .map_err(e("publish"))?;
    match step("the event after the restart", probe.news.next()).await? {
        Some(Ok(event)) if event.arg::<String>(0).ok().as_deref() == Some("after") => {}
        other => return Err(format!("{url}: expected the event, got {other:?}")),
    }
    let own: String = step(
        "the reconnected client calls",
        probe.client.call(format!("{prefix}.echo")).arg("mine"),
    )
    .await?
    .map_err(e("the reconnected client calls"))?
    .arg(0)
    .map_err(|e| format!("{url}: {e}"))?;
    if own != "mine" {
        return Err(format!("{url}: echo answered {own:?}"));
    }
    let _ = other.close().await;
    let _ = probe.client.close().await;
    Ok(format!(
        "ok {url}: in-flight call ConnectionLost, gap marked, restored {} ms after the router's return, calls and events flow",
        took.as_millis()
    ))
}

async fn run(urls: Vec<String>) -> Result<Vec<String>, String> {
    let mut probes = Vec::new();
    for (n, url) in urls.iter().enumerate() {
        probes.push(prepare(url, n).await?);
    }
    println!("ready");
    for probe in &mut probes {
        while_away(probe).await?;
    }
    println!("away");
    // The script says when the router accepts connections again.
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        match step("restarted", stdin.next_line()).await? {
            Ok(Some(line)) if line.trim() == "restarted" => break,
            Ok(Some(_)) => continue,
            _ => return Err("stdin ended before `restarted`".into()),
        }
    }
    let back = Instant::now();
    // Every client's rejoin is timed at once, then each is checked.
    let joined = futures::future::join_all(probes.iter_mut().map(rejoined)).await;
    let mut lines = Vec::new();
    for (probe, joined) in probes.iter_mut().zip(joined) {
        lines.push(after_return(probe, back, joined?).await?);
    }
    Ok(lines)
}

#[tokio::main]
async fn main() {
    let urls: Vec<String> = std::env::args().skip(1).collect();
    if urls.is_empty() {
        eprintln!("usage: reconnect_probe URL...");
        std::process::exit(2);
    }
    match run(urls).await {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
        }
        Err(e) => {
            println!("FAILED {e}");
            std::process::exit(1);
        }
    }
}
