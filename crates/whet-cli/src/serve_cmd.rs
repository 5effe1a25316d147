//! `whet serve CONFIG`: the OpenAI-compatible server of `whet-serve` for a base model and its
//! adapters, until Ctrl-C.

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
}

pub fn run(args: ServeArgs) -> Result<()> {
    let mut config = ServeConfig::load(&args.config)?;
    if let Some(addr) = args.listen {
        config.listen = addr;
    }
    let server = Server::new(&config)?;
    let names = server.model_names().join(", ");
    server.run(whet_serve::ctrl_c(), |addr| {
        // Scripts wait for this line (and read the port from it when listening on port 0).
        println!("whet serve: listening on http://{addr} (models: {names}); Ctrl-C stops");
    })?;
    Ok(())
}
