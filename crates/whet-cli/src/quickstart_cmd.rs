//! `whet quickstart`: the loop on the bundled base model and sample support data, offline, in a
//! few minutes on two cores. It writes the bundled model and data into a fresh directory,
//! evaluates the base model, fine-tunes it with LoRA (`configs/quickstart.toml`), evaluates the
//! result the same way, and prints a before/after table, sample answers and where it all went.
//!
//! Evaluation: validation perplexity over the assistant tokens (the training loss mask), and
//! exact match (SQuAD normalisation) of greedy answers to the held-out test questions, which are
//! phrased differently from every training question about the same fact.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use whet_data::tokenize_chat;
use whet_eval::{answer, exact_match, perplexity, score_tokenized, AnswerOptions};
use whet_models::GenerationConfig;
use whet_train::config::TrainConfig;
use whet_train::sft::RunOptions;

use crate::bundled;
use crate::model_source::ModelArgs;

#[derive(clap::Args, Debug)]
pub struct QuickstartArgs {
    /// Directory for everything the quickstart writes (default: runs/quickstart, or
    /// runs/quickstart-N when that exists). Must not exist yet.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Train for this many optimiser steps instead of the config's epochs (a faster look).
    #[arg(long, value_name = "STEPS")]
    pub max_steps: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// How many test answers are shown side by side.
const SHOWN_SAMPLES: usize = 3;
const MAX_ANSWER_TOKENS: usize = 48;

/// One model variant's results.
struct Evaluation {
    valid_perplexity: f64,
    exact: usize,
    answers: Vec<String>,
}

pub fn run(args: QuickstartArgs) -> Result<()> {
    let started = Instant::now();
    let root = match args.out {
        Some(dir) if dir.exists() => bail!("{}: already exists; give a new --out directory", dir.display()),
        Some(dir) => dir,
        None => fresh_dir(Path::new("runs"), "quickstart"),
    };
    let (base_dir, data_dir) = (root.join("base-model"), root.join("data"));
    bundled::BASE_MODEL.write_to(&base_dir)?;
    bundled::SAMPLE_DATA.write_to(&data_dir)?;
    let valid = read_chats(&data_dir.join("valid.jsonl"))?;
    let test = read_chats(&data_dir.join("test.jsonl"))?;

    let mut overrides: Vec<String> =
        ["model=base-model", "data.train=data/train.jsonl", "data.valid=data/valid.jsonl", "output_dir=sft"]
            .map(String::from)
            .to_vec();
    if let Some(n) = args.max_steps {
        overrides.push(format!("train.max_steps={n}"));
    }
    let config = TrainConfig::parse(bundled::QUICKSTART_CONFIG, Path::new("configs/quickstart.toml (built in)"), &root, &overrides)?;

    println!("whet quickstart: {}", root.display());
    println!("[1/3] evaluating the bundled base model on {} validation and {} test conversations", valid.len(), test.len());
    let base = evaluate(&base_dir, None, &valid, &test)?;

    println!("[2/3] LoRA fine-tuning on {}", config.data.train.display());
    let summary = whet_train::sft::run(&RunOptions {
        config,
        model_dir: base_dir.clone(),
        resume: false,
        stop_after: None,
        whet_version: crate::version().to_string(),
        progress: !args.quiet,
    })?;
    let adapter = summary.output.clone().context("the training run wrote no adapter")?;

    println!("[3/3] evaluating the fine-tuned model");
    let tuned = evaluate(&base_dir, Some(&adapter), &valid, &test)?;

    let n = test.len();
    println!();
    println!("{:<28} {:>14} {:>14}", "", "base", "fine-tuned");
    println!("{:<28} {:>14.2} {:>14.2}", "validation perplexity", base.valid_perplexity, tuned.valid_perplexity);
    println!(
        "{:<28} {:>14} {:>14}",
        "exact match, test questions",
        format!("{}/{n} {:.0}%", base.exact, percent(base.exact, n)),
        format!("{}/{n} {:.0}%", tuned.exact, percent(tuned.exact, n)),
    );
    println!();
    for (i, conv) in test.iter().enumerate().take(SHOWN_SAMPLES) {
        let (question, reference) = question_and_answer(conv)?;
        println!("Q: {question}");
        println!("   reference:  {reference}");
        println!("   base:       {}", base.answers[i]);
        println!("   fine-tuned: {}", tuned.answers[i]);
    }
    println!();

    let report = json!({
        "base_model": base_dir,
        "adapter": adapter,
        "training_run": summary.run_dir,
        "train_steps": summary.steps,
        "train_tokens_per_s": summary.tokens_per_s,
        "test_questions": n,
        "base": {"valid_perplexity": base.valid_perplexity, "exact_match": base.exact, "answers": base.answers},
        "fine_tuned": {"valid_perplexity": tuned.valid_perplexity, "exact_match": tuned.exact, "answers": tuned.answers},
        "seconds": started.elapsed().as_secs_f64(),
    });
    let report_path = root.join("quickstart.json");
    std::fs::write(&report_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", report_path.display()))?;

    println!("base model      {}", base_dir.display());
    println!("training run    {}  (loss.png, metrics.jsonl, tensorboard/)", summary.run_dir.display());
    println!("adapter         {}  (PEFT layout)", adapter.display());
    println!("report          {}", report_path.display());
    println!("took            {:.0} s", started.elapsed().as_secs_f64());
    println!();
    println!("try it:  whet generate --model {} --adapter {} --chat --prompt \"{}\"", base_dir.display(), adapter.display(), question_and_answer(&test[0])?.0);
    Ok(())
}

/// `parent/name`, or `parent/name-2`, `-3`, ... whichever does not exist yet.
fn fresh_dir(parent: &Path, name: &str) -> PathBuf {
    let first = parent.join(name);
    if !first.exists() {
        return first;
    }
    (2..).map(|i| parent.join(format!("{name}-{i}"))).find(|p| !p.exists()).unwrap_or(first)
}

fn percent(k: usize, n: usize) -> f64 {
    100.0 * k as f64 / n.max(1) as f64
}

/// The `messages` of each line of a JSONL file.
fn read_chats(path: &Path) -> Result<Vec<Vec<Value>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let record: Value = serde_json::from_str(line).with_context(|| format!("{}:{}: not valid JSON", path.display(), i + 1))?;
            record["messages"]
                .as_array()
                .cloned()
                .with_context(|| format!("{}:{}: no `messages` list", path.display(), i + 1))
        })
        .collect()
}

/// The last user question and the reference answer of a conversation that ends with the
/// assistant's turn.
fn question_and_answer(conv: &[Value]) -> Result<(&str, &str)> {
    let answer = conv.last().and_then(|m| m["content"].as_str()).context("empty conversation")?;
    let question = conv.iter().rev().find(|m| m["role"] == "user").and_then(|m| m["content"].as_str()).context("no user turn")?;
    Ok((question, answer))
}

fn evaluate(model_dir: &Path, adapter: Option<&Path>, valid: &[Vec<Value>], test: &[Vec<Value>]) -> Result<Evaluation> {
    let loaded = ModelArgs::local(model_dir, adapter).load()?;
    let (model, tok) = (&loaded.model, &loaded.tokenizer);
    let (mut nll, mut n_tokens) = (0.0, 0);
    for conv in valid {
        let (n, s) = score_tokenized(model, &tokenize_chat(tok, conv)?)?;
        n_tokens += n;
        nll += s;
    }
    let opts = AnswerOptions {
        max_new_tokens: MAX_ANSWER_TOKENS,
        eos_token_ids: loaded.eos_token_ids(&GenerationConfig::read(model_dir)?),
        sampling: Default::default(),
    };
    let (mut exact, mut answers) = (0, Vec::with_capacity(test.len()));
    for conv in test {
        let (_, reference) = question_and_answer(conv)?;
        let reply = answer(model, tok, &conv[..conv.len() - 1], &opts)?;
        exact += usize::from(exact_match(&reply, reference));
        answers.push(reply);
    }
    Ok(Evaluation { valid_perplexity: perplexity(nll, n_tokens), exact, answers })
}
