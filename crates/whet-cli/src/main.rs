//! `whet`: the command-line face of whet. Each subcommand parses its flags, calls into the
//! library crates and prints; the work itself lives in the crates.

mod bench_cmd;
mod bundled;
mod data_cmd;
mod eval_cmd;
mod feedback_cmd;
mod generate_cmd;
mod merge_cmd;
mod model_source;
mod prefs_cmd;
mod quickstart_cmd;
mod review_cmd;
mod score_cmd;
mod serve_cmd;
mod tokenizer_cmd;
mod train_cmd;

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (libmimalloc-sys names no constant).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory mapped for reuse. A training step frees and reallocates the same
/// activation-sized buffers every step; with mimalloc's default (return memory to the OS after
/// 1 s), each step faulted them back in as fresh zeroed huge pages: a third of a LoRA step's time
/// on the 35M benchmark model, and step time 4.5 s against 3.5 s without it (docs/benchmarks.md).
/// Peak RSS is unchanged: the memory is reused, not added to. `MIMALLOC_PURGE_DELAY` still wins.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option; mimalloc reads it on each purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

/// Fine-tune, evaluate and serve open language models — one binary, Hugging Face formats in and
/// out, no Python at run time.
#[derive(Parser)]
#[command(name = "whet", version = version(), propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fine-tune the bundled base model on the sample data and show before/after (offline, minutes).
    Quickstart(quickstart_cmd::QuickstartArgs),
    /// Prepare and inspect datasets.
    Data {
        #[command(subcommand)]
        cmd: data_cmd::DataCommand,
    },
    /// Train a model or a LoRA adapter (sft, cpt) from a TOML config.
    Train(train_cmd::TrainArgs),
    /// Train tokenizers.
    #[command(subcommand)]
    Tokenizer(tokenizer_cmd::TokenizerCommand),
    /// Generate text from a prompt or a conversation.
    Generate(generate_cmd::GenerateArgs),
    /// Evaluate model variants on eval sets: metrics with intervals, hallucination index,
    /// forgetting and contamination checks, a report (see configs/eval.toml).
    Eval(eval_cmd::EvalArgs),
    /// Human review of two variants' answers: a blind review page, then labels back into win
    /// rates and preference pairs.
    #[command(subcommand)]
    Review(review_cmd::ReviewCommand),
    /// Negative log-likelihood and perplexity of each record of a dataset.
    Score(score_cmd::ScoreArgs),
    /// Fold a LoRA adapter into its base model and write a plain HF model directory.
    Merge(merge_cmd::MergeArgs),
    /// Serve a model and its adapters over an OpenAI-compatible HTTP API.
    Serve(serve_cmd::ServeArgs),
    /// Turn the server's feedback database into training data and per-variant win rates.
    Feedback {
        #[command(subcommand)]
        cmd: feedback_cmd::FeedbackCommand,
    },
    /// Measure speed and memory (see docs/benchmarks.md).
    #[command(subcommand)]
    Bench(bench_cmd::BenchCommand),
}

/// The version with the git commit it was built from, when known.
pub fn version() -> &'static str {
    match option_env!("WHET_GIT_COMMIT") {
        Some(commit) if !commit.is_empty() => {
            Box::leak(format!("{} ({commit})", env!("CARGO_PKG_VERSION")).into_boxed_str())
        }
        _ => env!("CARGO_PKG_VERSION"),
    }
}

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    let result = match Cli::parse().command {
        Command::Quickstart(args) => quickstart_cmd::run(args),
        Command::Data { cmd } => data_cmd::run(cmd),
        Command::Train(args) => train_cmd::run_cmd(args),
        Command::Tokenizer(cmd) => tokenizer_cmd::run(cmd),
        Command::Generate(args) => generate_cmd::run(args),
        Command::Eval(args) => eval_cmd::run(args),
        Command::Review(cmd) => review_cmd::run(cmd),
        Command::Score(args) => score_cmd::run(args),
        Command::Merge(args) => merge_cmd::run(args),
        Command::Serve(args) => serve_cmd::run(args),
        Command::Feedback { cmd } => feedback_cmd::run(cmd),
        Command::Bench(cmd) => bench_cmd::run(cmd),
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
