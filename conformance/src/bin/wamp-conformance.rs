//! wamp-conformance: checks a WAMP router against the spec, scenario by scenario.
//!
//! ```text
//! wamp-conformance --url URL --realm REALM [--serializer json|msgpack|cbor] [--json FILE]
//!                  [--authz-denied-prefix PREFIX]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use nexus_conformance::suite::{self, Target};
use nexus_tokio::Serializer;

/// Checks a WAMP v2 router against the specification, feature by feature.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The router: ws://, wss://, tcp:// (RawSocket), tcps:// or unix://.
    #[arg(long)]
    url: String,
    /// The realm to join (it must accept anonymous clients).
    #[arg(long)]
    realm: String,
    /// The serializer: json, msgpack or cbor.
    #[arg(long, default_value = "json")]
    serializer: String,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Run only the scenarios whose group or name contains this text.
    #[arg(long)]
    only: Option<String>,
    /// Seconds to wait for any one message (a scenario fails after this, never hangs).
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Milliseconds to watch for "the router sends nothing".
    #[arg(long, default_value_t = 300)]
    quiet_ms: u64,
    /// Trust this PEM CA certificate for wss:// and tcps:// (besides the webpki roots).
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
    /// A URI prefix under which the router denies anonymous sessions (the suite's) every
    /// action, while allowing all else the suite does: runs the `authorization` group, which
    /// is "not configured" without it. nexusd's conformance config denies
    /// `com.conformance.denied.`.
    #[arg(long, value_name = "PREFIX")]
    authz_denied_prefix: Option<String>,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.list {
        for s in suite::scenarios() {
            let requires = s
                .requires
                .map(|r| format!(" [{}.{}]", r.role, r.feature))
                .or_else(|| s.needs.map(|n| format!(" [{}]", n.option())))
                .unwrap_or_default();
            println!("{} / {}{}: {}", s.group, s.name, requires, s.rule);
        }
        return ExitCode::SUCCESS;
    }
    let Some(serializer) = Serializer::from_name(&cli.serializer) else {
        eprintln!(
            "wamp-conformance: unknown serializer {:?} (expected json, msgpack or cbor)",
            cli.serializer
        );
        return ExitCode::from(2);
    };
    let tls = match &cli.ca {
        Some(path) => match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|pem| {
                nexus_tokio::nexus_transports::tls::client_config(Some(&pem))
                    .map_err(|e| e.to_string())
            }) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!(
                    "wamp-conformance: cannot use the CA certificate {}: {e}",
                    path.display()
                );
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let target = Target {
        url: cli.url.clone(),
        realm: cli.realm.clone(),
        serializer,
        tls,
        timeout: Duration::from_secs_f64(cli.timeout.max(0.1)),
        quiet: Duration::from_millis(cli.quiet_ms),
        authz_denied_prefix: cli.authz_denied_prefix.clone().filter(|p| !p.is_empty()),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wamp-conformance: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let scenario_timeout = target.timeout * 6;
    let report = match runtime.block_on(suite::run(
        &target,
        &suite::scenarios(),
        cli.only.as_deref(),
        scenario_timeout,
    )) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "wamp-conformance: cannot join realm {} at {}: {e}",
                cli.realm, cli.url
            );
            return ExitCode::from(2);
        }
    };
    print!("{}", report.to_markdown());
    if let Some(path) = &cli.json {
        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("wamp-conformance: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if report.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
