//! `whet feedback export --db FILE --out DIR [--min-rating 4]`: what users said about served
//! answers, back as training data. Reads the server's feedback database (`feedback_db` of
//! `whet serve`'s config; safe while the server runs) and writes, into `--out`:
//!
//! - `sft.jsonl`: good chat answers as OpenAI `messages` records (`method = "sft"` reads them);
//! - `preferences.jsonl`: a better and a worse answer to the same prompt as TRL's
//!   `prompt`/`chosen`/`rejected` (`method = "dpo"` reads them);
//! - `variants.json`: per route and variant, responses, feedback count, mean rating, wins among
//!   rated answers with a 95% Wilson interval, and head-to-head pair results.
//!
//! What counts as good and how pairs are made is `whet_serve::feedback_export`'s module doc.
//! Files are written as `*.partial` and renamed; existing export files are not overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use whet_eval::wilson_interval;
use whet_serve::feedback_export::{build_export, read_rated, Export};

/// The normal quantile of a two-sided 95% interval.
const Z_95: f64 = 1.959_963_984_540_054;

#[derive(clap::Subcommand, Debug)]
pub enum FeedbackCommand {
    /// Write SFT examples, preference pairs and per-variant win rates from a feedback database.
    Export(ExportArgs),
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The server's feedback database (`feedback_db` in its config).
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
    /// Directory for sft.jsonl, preferences.jsonl and variants.json (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Ratings at or above this are good answers (SFT examples, wins); below, bad.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub min_rating: u8,
}

pub fn run(cmd: FeedbackCommand) -> Result<()> {
    match cmd {
        FeedbackCommand::Export(args) => export(&args),
    }
}

const FILES: [&str; 3] = ["sft.jsonl", "preferences.jsonl", "variants.json"];

fn export(args: &ExportArgs) -> Result<()> {
    let existing: Vec<&str> = FILES
        .iter()
        .copied()
        .filter(|f| args.out.join(f).exists())
        .collect();
    if !existing.is_empty() {
        bail!(
            "{} already holds {}; choose a new --out or remove them",
            args.out.display(),
            existing.join(", ")
        );
    }
    let (answers, served) = read_rated(&args.db)?;
    let export = build_export(&answers, &served, args.min_rating);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write_jsonl(&args.out.join("sft.jsonl"), &export.sft)?;
    write_jsonl(&args.out.join("preferences.jsonl"), &export.preferences)?;
    let variants = variants_json(&export, args.min_rating);
    write_atomic(
        &args.out.join("variants.json"),
        format!("{}\n", serde_json::to_string_pretty(&variants)?).as_bytes(),
    )?;
    print_summary(args, answers.len(), &export, &variants);
    Ok(())
}

/// `variants.json`: each tally with its mean rating and win rate (Wilson 95% interval).
fn variants_json(export: &Export, min_rating: u8) -> Value {
    let rows: Vec<Value> = export
        .variants
        .iter()
        .map(|t| {
            let (win_rate, interval) = if t.with_feedback == 0 {
                (Value::Null, Value::Null)
            } else {
                let (lo, hi) = wilson_interval(t.wins, t.with_feedback, Z_95);
                (
                    json!(t.wins as f64 / t.with_feedback as f64),
                    json!([lo, hi]),
                )
            };
            json!({
                "route": t.route,
                "variant": t.variant,
                "adapter_versions": t.adapter_versions,
                "responses": t.responses,
                "with_feedback": t.with_feedback,
                "ratings": t.ratings,
                "mean_rating": t.mean_rating,
                "wins": t.wins,
                "win_rate": win_rate,
                "win_rate_95": interval,
                "pair_wins": t.pair_wins,
                "pair_losses": t.pair_losses,
            })
        })
        .collect();
    json!({
        "min_rating": min_rating,
        "win": format!("rating >= {min_rating}, or preferred: true when unrated"),
        "interval": "Wilson score interval, 95%",
        "variants": rows,
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = path.with_extension(format!(
        "{}.partial",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    std::fs::write(&partial, bytes).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("renaming to {}", path.display()))
}

fn write_jsonl(path: &Path, records: &[Value]) -> Result<()> {
    let mut bytes = Vec::new();
    for r in records {
        writeln!(bytes, "{r}")?;
    }
    write_atomic(path, &bytes)
}

fn print_summary(args: &ExportArgs, rated: usize, export: &Export, variants: &Value) {
    println!(
        "{rated} responses with feedback in {}: {} SFT examples, {} preference pairs",
        args.db.display(),
        export.sft.len(),
        export.preferences.len()
    );
    for (why, n) in &export.sft_skipped {
        println!("  good answers not used for SFT: {n} ({why})");
    }
    for (why, n) in &export.pairs_skipped {
        println!("  prompts without a pair: {n} ({why})");
    }
    println!(
        "{:<20} {:<20} {:>9} {:>8} {:>11} {:>22}",
        "route", "variant", "responses", "feedback", "mean rating", "win rate [95% CI]"
    );
    for v in variants["variants"].as_array().into_iter().flatten() {
        let mean = v["mean_rating"]
            .as_f64()
            .map_or("-".to_string(), |m| format!("{m:.2}"));
        let win = match (v["win_rate"].as_f64(), v["win_rate_95"].as_array()) {
            (Some(w), Some(ci)) => format!(
                "{w:.2} [{:.2}, {:.2}]",
                ci[0].as_f64().unwrap_or(0.0),
                ci[1].as_f64().unwrap_or(1.0)
            ),
            _ => "-".to_string(),
        };
        println!(
            "{:<20} {:<20} {:>9} {:>8} {:>11} {:>22}",
            v["route"].as_str().unwrap_or("-"),
            v["variant"].as_str().unwrap_or(""),
            v["responses"],
            v["with_feedback"],
            mean,
            win
        );
    }
    println!("wrote {}", args.out.display());
}
