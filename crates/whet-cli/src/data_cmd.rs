//! `whet data ...`: prepare (`prep`, `merge`) and profile (`inspect`) datasets. Parses the
//! arguments, calls `whet_data::prep`, prints a summary; the work lives in whet-data.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use whet_data::prep::config::PrepConfig;
use whet_data::prep::pipeline::{self, Shard, Summary};

#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Clean, deduplicate, redact, filter, audit and split a dataset as CONFIG says (or, without
    /// a config, the --input files with default steps into --out).
    Prep {
        /// The prep config (TOML); see configs/prep.toml.
        #[arg(required_unless_present = "input", conflicts_with = "input")]
        config: Option<PathBuf>,
        /// Without a config: an input file (repeatable); default steps apply.
        #[arg(long, requires = "out")]
        input: Vec<PathBuf>,
        /// Without a config: the output folder.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Process only slice I of N (records with index mod N = I); finish with `whet data merge`.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Worker threads (default: all cores). Output does not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Override a config value, e.g. --set near_dedup.threshold=0.85 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Finish a sharded run: deduplicate across the N shards, split, report.
    Merge {
        config: PathBuf,
        /// How many shards the run was cut into.
        #[arg(long)]
        shards: u32,
        #[arg(long)]
        threads: Option<usize>,
        /// The same overrides the shards ran with.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Preference pairs from AI feedback: a stronger and a weaker model answer the same
    /// prompts; the stronger (or, with --judge reference, the more correct) answer is chosen.
    Prefs(crate::prefs_cmd::PrefsArgs),
    /// Profile a dataset file (format, counts, lengths, duplicates, PII, languages); writes nothing.
    Inspect {
        file: PathBuf,
        /// Print the profile as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Prep { config, input, out, shard, threads, set } => {
            set_threads(threads)?;
            let (cfg, config) = match (config, out) {
                (Some(c), _) => (PrepConfig::load_with_overrides(&c, &set)?, c),
                (None, Some(_)) if shard.is_some() => bail!("--shard needs a CONFIG file: `whet data merge` reads the same config"),
                (None, Some(out)) => (PrepConfig::from_inputs(&input, &out, &set)?, PathBuf::from("--input")),
                (None, None) => bail!("give a CONFIG file, or --input FILE ... --out DIR"),
            };
            let bar = progress_bar();
            let tick = |n: u64| bar.set_position(n);
            match shard {
                Some(s) => {
                    let shard = parse_shard(&s)?;
                    let dir = pipeline::run_shard(&cfg, shard, &tick).with_context(|| format!("shard {s} of {}", config.display()))?;
                    bar.finish_and_clear();
                    println!("shard {s} done: {}", dir.display());
                    println!("when all {} shards are done: whet data merge {} --shards {}", shard.count, config.display(), shard.count);
                }
                None => {
                    let summary = pipeline::run(&cfg, &tick).with_context(|| format!("data prep {}", config.display()))?;
                    bar.finish_and_clear();
                    print_summary(&summary);
                }
            }
        }
        DataCommand::Merge { config, shards, threads, set } => {
            set_threads(threads)?;
            if shards == 0 {
                bail!("--shards must be at least 1");
            }
            let cfg = PrepConfig::load_with_overrides(&config, &set)?;
            let bar = progress_bar();
            let summary = pipeline::merge(&cfg, shards, &|n| bar.set_position(n)).with_context(|| format!("data merge {}", config.display()))?;
            bar.finish_and_clear();
            print_summary(&summary);
        }
        DataCommand::Prefs(args) => crate::prefs_cmd::run(args)?,
        DataCommand::Inspect { file, json } => {
            let profile = whet_data::prep::inspect::inspect(&file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&profile)?);
            } else {
                print!("{}", profile.text());
            }
        }
    }
    Ok(())
}

fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(n) = threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().context("setting up worker threads")?;
    }
    Ok(())
}

/// `I/N` with `I < N`.
fn parse_shard(s: &str) -> Result<Shard> {
    let parsed = s.split_once('/').and_then(|(i, n)| Some((i.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((index, count)) if count > 0 && index < count => Ok(Shard { index, count }),
        _ => bail!("--shard {s:?}: expected I/N with 0 <= I < N, e.g. --shard 0/4"),
    }
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} records  {per_sec}  {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn print_summary(s: &Summary) {
    let st = &s.stats;
    println!("input {} = kept {} + dropped {}", st.input, st.kept, st.dropped_total());
    for rule in whet_data::prep::report::RULES {
        if let Some(n) = st.dropped.get(rule) {
            println!("  dropped by {rule:<16} {n}");
        }
    }
    let splits: Vec<String> = st.splits.iter().map(|(k, v)| format!("{k} {}", v.records)).collect();
    println!("splits: {}", splits.join(", "));
    let dir = std::fs::canonicalize(&s.out_dir).unwrap_or_else(|_| s.out_dir.clone());
    println!("wrote {}:", dir.display());
    for f in &s.files {
        println!("  {}", f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_argument_must_be_index_below_count() {
        assert_eq!(parse_shard("1/4").expect("valid"), Shard { index: 1, count: 4 });
        for bad in ["4/4", "1", "a/b", "0/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
