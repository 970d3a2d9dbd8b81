//! wamp-relay: the no-parse relay `wamp-bench` figures are compared with (see the
//! `nexus_conformance::relay` module). Prints one `listening on URL` line per listener, as
//! nexusd does, then serves until it is killed.

use std::process::ExitCode;

use clap::Parser;
use nexus_conformance::relay::{Relay, RelayConfig};

/// wamp-relay: forwards wamp-bench's calls and events without decoding their payloads, to
/// measure the floor no router on the machine can beat.
#[derive(Debug, Parser)]
#[command(name = "wamp-relay", version, about)]
struct Cli {
    /// Where to listen: ws://HOST:PORT/PATH or tcp://HOST:PORT (port 0: any free port).
    /// Repeat for several listeners.
    #[arg(long, value_name = "URL", required = true)]
    listen: Vec<String>,
    /// The largest message, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    max_message_size: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wamp-relay: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let relay = Relay::new(RelayConfig {
            max_message_size: cli.max_message_size,
        });
        for url in &cli.listen {
            match relay.listen(url).await {
                Ok(bound) => println!("listening on {bound}"),
                Err(e) => {
                    eprintln!("wamp-relay: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        std::future::pending::<ExitCode>().await
    })
}
