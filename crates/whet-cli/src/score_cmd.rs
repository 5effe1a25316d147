//! `whet score`: per-record token count, summed negative log-likelihood (nats) and perplexity,
//! with the loss mask training uses (plain `text` records: every token but the first; chat
//! `messages` records: assistant tokens only).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use whet_data::{tokenize_chat, tokenize_text};
use whet_eval::{perplexity, score_tokenized};

use crate::model_source::ModelArgs;

#[derive(clap::Args, Debug)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// JSONL file of records with `text` or `messages`.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Print JSON: one object with every record and the totals.
    #[arg(long)]
    pub json: bool,
}

/// The score of one record.
struct Score {
    line: usize,
    n_tokens: usize,
    nll: f64,
}

pub fn run(args: ScoreArgs) -> Result<()> {
    let loaded = args.model.load()?;
    let path = &args.data;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut scores = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line_no = i + 1;
        let line = line.with_context(|| format!("{}:{line_no}: cannot read line", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{line_no}: not valid JSON", path.display()))?;
        let tokenized = if let Some(text) = record.get("text").and_then(Value::as_str) {
            tokenize_text(&loaded.tokenizer, text)?
        } else if let Some(messages) = record.get("messages").and_then(Value::as_array) {
            tokenize_chat(&loaded.tokenizer, messages)
                .with_context(|| format!("{}:{line_no}", path.display()))?
        } else {
            bail!("{}:{line_no}: a record needs a string `text` or a `messages` list", path.display());
        };
        let (n_tokens, nll) = score_tokenized(&loaded.model, &tokenized)
            .with_context(|| format!("{}:{line_no}", path.display()))?;
        scores.push(Score { line: line_no, n_tokens, nll });
    }
    if scores.is_empty() {
        bail!("{}: no records", path.display());
    }
    let total_tokens: usize = scores.iter().map(|s| s.n_tokens).sum();
    let total_nll: f64 = scores.iter().map(|s| s.nll).sum();
    if args.json {
        let records: Vec<Value> = scores
            .iter()
            .map(|s| json!({"line": s.line, "n_tokens": s.n_tokens, "nll": s.nll, "perplexity": perplexity(s.nll, s.n_tokens)}))
            .collect();
        let report = json!({
            "records": records,
            "n_tokens": total_tokens,
            "nll": total_nll,
            "perplexity": perplexity(total_nll, total_tokens),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{:>6} {:>8} {:>12} {:>11}", "line", "tokens", "nll", "perplexity");
        for s in &scores {
            println!("{:>6} {:>8} {:>12.4} {:>11.3}", s.line, s.n_tokens, s.nll, perplexity(s.nll, s.n_tokens));
        }
        println!(
            "{:>6} {:>8} {:>12.4} {:>11.3}",
            "all",
            total_tokens,
            total_nll,
            perplexity(total_nll, total_tokens)
        );
    }
    Ok(())
}
