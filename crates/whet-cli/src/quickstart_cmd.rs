//! `whet quickstart`: the loop on the bundled base model and sample support data, offline, in a
//! few minutes on two cores. It writes the bundled model and data into a fresh directory,
//! evaluates the base model, fine-tunes it with LoRA (`configs/quickstart.toml`), builds
//! AI-feedback preference pairs from the fine-tuned model's own samples (best against worst by
//! token F1 to the reference answer, as `whet data prefs --no-weak --judge reference` does),
//! trains DPO on top of the SFT adapter against the SFT model as reference
//! (`configs/quickstart-dpo.toml`), evaluates each model the same way, and prints a three-way
//! table, the held-out reward accuracy with its interval, sample answers and where it all went.
//!
//! Evaluation: validation perplexity over the assistant tokens (the training loss mask), and
//! exact match (SQuAD normalisation) of greedy answers to the held-out test questions, which are
//! phrased differently from every training question about the same fact.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use whet_data::tokenize_chat;
use whet_eval::{answer, exact_match, perplexity, score_tokenized, wilson_interval, AnswerOptions};
use whet_models::GenerationConfig;
use whet_train::config::TrainConfig;
use whet_train::sft::{RunOptions, RunSummary};

use crate::bundled;
use crate::model_source::ModelArgs;
use crate::prefs_cmd::{make_pairs, read_prompts, write_jsonl, Answerer, Judge, Sampling};

#[derive(clap::Args, Debug)]
pub struct QuickstartArgs {
    /// Directory for everything the quickstart writes (default: runs/quickstart, or
    /// runs/quickstart-N when that exists). Must not exist yet.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Train SFT for this many optimiser steps instead of the config's epochs (a faster look).
    #[arg(long, value_name = "STEPS")]
    pub max_steps: Option<usize>,
    /// Train DPO for this many optimiser steps instead of the config's epochs.
    #[arg(long, value_name = "STEPS")]
    pub dpo_max_steps: Option<usize>,
    /// Use only the first N questions of each split for preference pairs and evaluation (a
    /// faster look; training still sees the whole SFT training set).
    #[arg(long, value_name = "N")]
    pub max_questions: Option<usize>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// How many test answers are shown side by side.
const SHOWN_SAMPLES: usize = 3;
const MAX_ANSWER_TOKENS: usize = 48;
/// AI feedback: answers sampled from the SFT model per question, and their temperature.
const PREF_SAMPLES: usize = 4;
const PREF_TEMPERATURE: f32 = 1.0;
/// The normal quantile of a 95% interval.
const Z95: f64 = 1.959963984540054;

/// One model variant's results.
struct Evaluation {
    valid_perplexity: f64,
    exact: usize,
    answers: Vec<String>,
}

impl Evaluation {
    fn json(&self) -> Value {
        json!({"valid_perplexity": self.valid_perplexity, "exact_match": self.exact, "answers": self.answers})
    }
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
    let limit = args.max_questions.unwrap_or(usize::MAX);
    let valid: Vec<_> = read_chats(&data_dir.join("valid.jsonl"))?.into_iter().take(limit).collect();
    let test: Vec<_> = read_chats(&data_dir.join("test.jsonl"))?.into_iter().take(limit).collect();

    let mut sft_overrides = vec!["model=base-model", "data.train=data/train.jsonl", "data.valid=data/valid.jsonl", "output_dir=sft"];
    let sft_steps = args.max_steps.map(|n| format!("train.max_steps={n}"));
    sft_overrides.extend(sft_steps.as_deref());
    let sft_config = config(bundled::QUICKSTART_CONFIG, "configs/quickstart.toml", &root, &sft_overrides)?;

    println!("whet quickstart: {}", root.display());
    println!("[1/6] evaluating the bundled base model on {} validation and {} test conversations", valid.len(), test.len());
    let base = evaluate(&base_dir, None, &valid, &test)?;

    println!("[2/6] LoRA fine-tuning (SFT) on {}", sft_config.data.train.display());
    let sft_run = train(sft_config, &base_dir, args.quiet)?;
    let sft_adapter = sft_run.output.clone().context("the SFT run wrote no adapter")?;

    println!("[3/6] evaluating the fine-tuned model");
    let sft = evaluate(&base_dir, Some(&sft_adapter), &valid, &test)?;

    println!("[4/6] AI-feedback pairs: {PREF_SAMPLES} answers per question from the fine-tuned model (temperature {PREF_TEMPERATURE}), the closest to the reference chosen over the farthest");
    let strong = Answerer::local(&base_dir, Some(&sft_adapter))?;
    let sampling = Sampling { samples: PREF_SAMPLES, temperature: PREF_TEMPERATURE, top_p: None, seed: 42, max_new_tokens: MAX_ANSWER_TOKENS };
    let mut pair_counts = Vec::new();
    for split in ["train", "valid"] {
        let source = data_dir.join(format!("{split}.jsonl"));
        let prompts: Vec<_> = read_prompts(&source)?.into_iter().take(limit).collect();
        let (pairs, skipped) = make_pairs(&prompts, &source, &strong, None, &Judge::Reference, &sampling, !args.quiet)?;
        write_jsonl(&data_dir.join(format!("prefs-{split}.jsonl")), &pairs)?;
        let skipped: usize = skipped.values().sum();
        println!("      {split}: {} pairs from {} questions ({skipped} skipped: every sample equally close)", pairs.len(), prompts.len());
        if pairs.is_empty() {
            bail!("every {split} question got {PREF_SAMPLES} equally good answers from the fine-tuned model: there is nothing to prefer");
        }
        pair_counts.push(pairs.len());
    }

    let mut dpo_overrides = vec!["model=base-model", "data.train=data/prefs-train.jsonl", "data.valid=data/prefs-valid.jsonl", "output_dir=dpo", "dpo.adapter=sft/adapter"];
    let dpo_steps = args.dpo_max_steps.map(|n| format!("train.max_steps={n}"));
    dpo_overrides.extend(dpo_steps.as_deref());
    let dpo_config = config(bundled::QUICKSTART_DPO_CONFIG, "configs/quickstart-dpo.toml", &root, &dpo_overrides)?;
    println!("[5/6] DPO on top of the SFT adapter (reference: the SFT model) on {}", dpo_config.data.train.display());
    let dpo_run = train(dpo_config, &base_dir, args.quiet)?;
    let dpo_adapter = dpo_run.output.clone().context("the DPO run wrote no adapter")?;
    let held_out = pair_counts[1];
    let accuracy = final_eval(&dpo_run.run_dir, "eval_rewards/accuracies")?;
    let correct = (accuracy * held_out as f64).round() as usize;
    let (low, high) = wilson_interval(correct, held_out, Z95);

    println!("[6/6] evaluating the DPO model");
    let dpo = evaluate(&base_dir, Some(&dpo_adapter), &valid, &test)?;

    let n = test.len();
    let em = |e: &Evaluation| format!("{}/{n} {:.0}%", e.exact, percent(e.exact, n));
    println!();
    println!("{:<30} {:>12} {:>12} {:>12}", "", "base", "SFT", "SFT + DPO");
    println!("{:<30} {:>12.2} {:>12.2} {:>12.2}", "validation perplexity", base.valid_perplexity, sft.valid_perplexity, dpo.valid_perplexity);
    println!("{:<30} {:>12} {:>12} {:>12}", "exact match, test questions", em(&base), em(&sft), em(&dpo));
    println!();
    println!(
        "DPO reward accuracy on {held_out} held-out pairs: {correct}/{held_out} = {:.2} (95% interval {low:.2}-{high:.2}); it starts at 0 (the policy is its reference: every margin is 0)",
        accuracy
    );
    println!();
    for (i, conv) in test.iter().enumerate().take(SHOWN_SAMPLES) {
        let (question, reference) = question_and_answer(conv)?;
        println!("Q: {question}");
        println!("   reference:  {reference}");
        println!("   base:       {}", base.answers[i]);
        println!("   SFT:        {}", sft.answers[i]);
        println!("   SFT + DPO:  {}", dpo.answers[i]);
    }
    println!();

    let report = json!({
        "base_model": base_dir,
        "sft": {"adapter": sft_adapter, "training_run": sft_run.run_dir, "train_steps": sft_run.steps, "train_tokens_per_s": sft_run.tokens_per_s},
        "preference_pairs": {"train": pair_counts[0], "valid": held_out, "samples_per_question": PREF_SAMPLES, "temperature": PREF_TEMPERATURE, "judge": "reference (token F1)"},
        "dpo": {
            "adapter": dpo_adapter, "training_run": dpo_run.run_dir, "train_steps": dpo_run.steps,
            "held_out_reward_accuracy": accuracy, "held_out_pairs": held_out, "reward_accuracy_interval_95": [low, high],
        },
        "test_questions": n,
        "base": base.json(),
        "fine_tuned": sft.json(),
        "dpo_tuned": dpo.json(),
        "seconds": started.elapsed().as_secs_f64(),
    });
    let report_path = root.join("quickstart.json");
    std::fs::write(&report_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", report_path.display()))?;

    println!("base model      {}", base_dir.display());
    println!("SFT run         {}  (loss.png, metrics.jsonl, tensorboard/)", sft_run.run_dir.display());
    println!("preference data {}", data_dir.join("prefs-train.jsonl").display());
    println!("DPO run         {}", dpo_run.run_dir.display());
    println!("adapters        {}, {}  (PEFT layout)", sft_adapter.display(), dpo_adapter.display());
    println!("report          {}", report_path.display());
    println!("took            {:.0} s", started.elapsed().as_secs_f64());
    println!();
    println!("try it:  whet generate --model {} --adapter {} --chat --prompt \"{}\"", base_dir.display(), dpo_adapter.display(), question_and_answer(&test[0])?.0);
    Ok(())
}

/// A bundled config with the quickstart's own paths (relative to `root`).
fn config(text: &str, name: &str, root: &Path, overrides: &[&str]) -> Result<TrainConfig> {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Ok(TrainConfig::parse(text, Path::new(&format!("{name} (built in)")), root, &overrides)?)
}

fn train(config: TrainConfig, base_dir: &Path, quiet: bool) -> Result<RunSummary> {
    Ok(whet_train::sft::run(&RunOptions {
        config,
        model_dir: base_dir.to_path_buf(),
        resume: false,
        stop_after: None,
        whet_version: crate::version().to_string(),
        progress: !quiet,
    })?)
}

/// The last value of `key` in a run's `metrics.jsonl`.
fn final_eval(run_dir: &Path, key: &str) -> Result<f64> {
    let path = run_dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get(key).and_then(Value::as_f64))
        .last()
        .with_context(|| format!("{}: no `{key}`", path.display()))
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
