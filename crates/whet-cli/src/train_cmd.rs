//! `whet train CONFIG [--set key=value ...]`: one training run (`method = "sft"`, `"cpt"` or `"dpo"`),
//! configured by a TOML file validated before any work starts; prints a summary at the end.

use std::path::PathBuf;

use anyhow::Result;
use whet_train::config::TrainConfig;
use whet_train::sft::{run, RunOptions};

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The run's TOML config (see configs/ for examples).
    pub config: PathBuf,
    /// Override a config value: `--set train.lr=1e-4 --set lora.r=8`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Continue the run in `output_dir` from its latest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this many optimiser steps, checkpointing so `--resume` can continue (for jobs
    /// with a time limit).
    #[arg(long, value_name = "STEPS")]
    pub stop_after: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run_cmd(args: TrainArgs) -> Result<()> {
    let config = TrainConfig::load(&args.config, &args.overrides)?;
    let model_dir = crate::model_source::resolve(&config.model)?;
    let dpo = config.method == whet_train::config::Method::Dpo;
    let opts = RunOptions {
        config,
        model_dir,
        resume: args.resume,
        stop_after: args.stop_after,
        whet_version: crate::version().to_string(),
        progress: !args.quiet,
    };
    let s = run(&opts)?;
    println!("run directory   {}", s.run_dir.display());
    match &s.output {
        Some(out) => println!("result          {}", out.display()),
        None => println!("stopped after step {} of {}; continue with --resume", s.steps, s.total_steps),
    }
    println!(
        "steps           {}/{}{}",
        s.steps,
        s.total_steps,
        if s.stopped_early { " (early stopping)" } else { "" }
    );
    println!(
        "train records   {} ({} tokens, {} trained on; {} truncated, {} dropped as too long)",
        s.train.records, s.train.tokens, s.train.target_tokens, s.train.truncated, s.train.dropped_overlong
    );
    if let Some(loss) = s.final_train_loss {
        println!("train loss      {loss:.4} (last step)");
    }
    if let Some(v) = s.final_valid_loss {
        // A perplexity is a language-modelling figure; a preference loss has none.
        let ppl = if dpo { String::new() } else { format!(" (perplexity {:.3})", v.exp()) };
        println!("valid loss      {v:.4}{ppl}; best {:.4}", s.best_valid_loss.unwrap_or(v));
    }
    if s.skipped_steps > 0 {
        println!("skipped steps   {} (non-finite loss or gradient)", s.skipped_steps);
    }
    println!("throughput      {:.0} tokens/s, peak RSS {:.0} MiB", s.tokens_per_s, s.peak_rss_mib);
    Ok(())
}
