//! `whet eval CONFIG [--out DIR]`: the evaluation report for one or more model variants (see
//! `whet_eval::runner` and `configs/eval.toml`). Prints progress, then a short table, and where
//! the report and the per-sample records went.

use std::path::PathBuf;

use anyhow::{Context, Result};
use whet_eval::{run_eval, EvalConfig, EvalOptions};

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The eval TOML config (see configs/eval.toml).
    pub config: PathBuf,
    /// Write the report here instead of the config's `output_dir` (must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress lines.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let mut config = EvalConfig::load(&args.config)?;
    if let Some(out) = args.out {
        config.output_dir = out;
    }
    let config_text = std::fs::read_to_string(&args.config).with_context(|| format!("reading {}", args.config.display()))?;
    let quiet = args.quiet;
    let progress = move |line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    let out = config.output_dir.clone();
    let started = std::time::Instant::now();
    let report = run_eval(&EvalOptions { config, config_text, whet_version: crate::version().to_string(), progress: &progress })?;
    println!("{}", report.terminal_table());
    println!("report          {}", out.join("report.md").display());
    println!("                {}", out.join("report.html").display());
    println!("                {}", out.join("report.json").display());
    println!("samples         {}", out.join("samples").display());
    println!("took            {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
