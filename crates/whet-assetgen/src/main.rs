//! `whet-assetgen`: deterministic generators for two assets of whet's quickstart.
//!
//! - `corpus`: the English pretraining corpus of whet's bundled tiny base model, a small Llama
//!   trained from random weights (see `corpus`);
//! - `domain`: the quickstart demo's fine-tuning set about an invented product, which that base
//!   model has never seen, and the eval sets `whet eval` uses with it (see `domain`).
//!
//! Both are generated from templates, fixed word tables and a seeded PRNG written here
//! (`rng`), so the same arguments give the same bytes on every platform, now and later.

mod args;
mod corpus;
mod domain;
mod jsonl;
mod names;
mod output;
mod rng;
mod text;
mod world;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};

use args::Command;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let command = match args::parse(&argv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}\n\n{}", args::usage());
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}\n\n{}", args::SYNOPSIS);
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    let start = Instant::now();
    match command {
        Command::Help => println!("{}", args::usage()),
        Command::Corpus { out, documents, seed } => {
            output::check_file(&out)?;
            let file = File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            let mut w = BufWriter::new(file);
            let stats = corpus::write(&mut w, documents, seed)
                .and_then(|s| w.flush().map(|()| s))
                .with_context(|| format!("writing {}", out.display()))?;
            let kinds: Vec<String> = corpus::Kind::ALL
                .iter()
                .zip(stats.per_kind)
                .map(|(k, n)| format!("{} {n}", k.name()))
                .collect();
            println!(
                "wrote {} documents, {} words, {} bytes of text ({} bytes of JSONL) to {} \
                 in {} ms (seed {seed})",
                stats.documents,
                stats.words,
                stats.text_bytes,
                stats.bytes,
                out.display(),
                start.elapsed().as_millis()
            );
            println!("documents by kind: {}", kinds.join(", "));
        }
        Command::Domain { out, seed } => {
            output::prepare_dir(&out)?;
            let splits = domain::build(seed);
            domain::write(&out, &splits, seed)?;
            println!(
                "wrote {} train, {} valid and {} test records to {} in {} ms (seed {seed})",
                splits.train.len(),
                splits.valid.len(),
                splits.test.len(),
                out.display(),
                start.elapsed().as_millis()
            );
            println!("records per fact type (train/valid/test): {}", domain::summary(&splits));
            println!(
                "eval sets: glossary.jsonl ({} terms), general.jsonl ({} questions)",
                domain::glossary::render().lines().count(),
                domain::general::QUESTIONS
            );
        }
    }
    Ok(())
}
