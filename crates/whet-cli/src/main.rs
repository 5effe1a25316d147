//! The `whet` binary: parses the command line and calls into the library crates.

mod data_cmd;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "whet", version, about = "Fine-tune open LLMs: data prep, training, eval, serving")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Prepare and inspect datasets.
    Data {
        #[command(subcommand)]
        cmd: data_cmd::DataCommand,
    },
}

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Data { cmd } => data_cmd::run(cmd),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the context chain on one line, without a backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
