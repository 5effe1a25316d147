//! `whet serve CONFIG`: the OpenAI-compatible server of `whet-serve` for a base model and its
//! adapters, until Ctrl-C. The server's logs (one line per request, route changes, feedback) go
//! to stderr through `tracing-subscriber`, at `info` level, as text or (`--log-json`) JSON lines.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use whet_serve::{ServeConfig, Server};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The server's TOML config (see configs/serve.toml).
    pub config: PathBuf,
    /// Listen on this address instead of the config's `listen` (port 0: any free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Write the logs as JSON objects, one per line (for log shippers), instead of text.
    #[arg(long)]
    pub log_json: bool,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let mut config = ServeConfig::load(&args.config)?;
    if let Some(addr) = args.listen {
        config.listen = addr;
    }
    // Ignore a second initialisation (a subscriber already set by an embedding program).
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only for a terminal, not for a file or a log shipper.
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO);
    let _ = if args.log_json {
        logs.json().try_init()
    } else {
        logs.try_init()
    };
    let server = Server::new(&config)?;
    let names = server.model_names().join(", ");
    server.run(whet_serve::ctrl_c(), |addr| {
        // Scripts wait for this line (and read the port from it when listening on port 0).
        println!("whet serve: listening on http://{addr} (models: {names}); Ctrl-C stops");
    })?;
    Ok(())
}
