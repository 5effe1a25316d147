//! The training recipes — `sft` and `cpt` (causal-LM loss) and `dpo` (preference losses), LoRA
//! or full fine-tuning — as one loop that reads top to bottom: setup, loop (micro-batches,
//! accumulation, clipping, schedule, evaluation, early stopping, checkpoints), save. `sft` and
//! `cpt` differ only in their data and loss mask (`dataset.rs`), accumulated per token; `dpo`
//! differs in its examples (pairs, `preference_data.rs`) and its per-step loss (`dpo_loss.rs`),
//! accumulated per pair. That varying part is [`Examples`] and [`Batches`]; the rest is shared.
//!
//! `dpo` keeps LoRA dropout off (TRL's `disable_dropout` default) and logs TRL's reward metrics
//! (`rewards/chosen`, `rewards/rejected`, `rewards/margins`, `rewards/accuracies`,
//! `logps/chosen`, `logps/rejected`) with each step; its evaluation reports the loss and reward
//! accuracy. With `dpo.adapter` it continues training that adapter (its LoRA config wins over
//! `[lora]`'s). Its reference model is chosen by `dpo.reference` (`dpo_reference.rs`).
//!
//! A run directory holds everything needed to reproduce and inspect the run: `config.toml` (the
//! resolved config), `run.json` (whet version, base model, dataset hashes, seed, dataset
//! statistics), `metrics.jsonl`, `tensorboard/` (event files), `loss.png`, `checkpoints/`, the
//! result (`adapter/` in PEFT's layout with the tokenizer files and chat template used, or
//! `model/`), and `summary.json`.
//!
//! With `init = "random"` the model starts from fresh weights (pretraining from scratch).
//!
//! Not yet: bf16/f16 training (weights are trained in f32).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use serde_json::json;
use whet_data::{ChatTemplate, ModelTokenizer, Tokenized};
use whet_models::{CausalLm, DropoutState, LoraDropout};

use crate::accumulate::accumulate_gradients;
use crate::adamw::{AdamW, AdamWConfig};
use crate::batching::{derive_seed, epoch_order, micro_batches};
use crate::checkpoint::{checkpoints, load_checkpoint, save_checkpoint, TrainState};
use crate::config::{DpoLossType, Init, Method, ReferenceChoice, TrainConfig};
use crate::dpo_reference::Reference;
use crate::dataset::{load_examples, DatasetStats};
use crate::dpo_loss::{preference_gradients, preference_loss, PreferenceBatch, PreferenceObjective};
use crate::error::{Error, Result};
use crate::grad_clip::clip_grad_norm;
use crate::loss::{cross_entropy_sum, Batch};
use crate::loss_curve::{write_loss_png, LossSeries};
use crate::metrics::MetricsLog;
use whet_models::peak_rss::peak_rss_mib;
use crate::preference_data::{load_pairs, preference_batches, PairExample};
use crate::schedule::learning_rate;
use crate::tensorboard::EventWriter;
use crate::trainable::{full_params, lora_params, Param};

pub struct RunOptions {
    pub config: TrainConfig,
    /// The base model's local directory (the CLI resolves Hub ids).
    pub model_dir: PathBuf,
    /// Continue from the run directory's latest checkpoint.
    pub resume: bool,
    /// Stop (with a checkpoint) after this many optimiser steps, to resume later.
    pub stop_after: Option<usize>,
    /// `whet --version`, recorded in `run.json`.
    pub whet_version: String,
    pub progress: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    pub run_dir: PathBuf,
    /// Where the adapter or model was written (none when the run stopped to be resumed).
    pub output: Option<PathBuf>,
    pub steps: usize,
    pub total_steps: usize,
    pub final_train_loss: Option<f64>,
    pub final_valid_loss: Option<f64>,
    pub best_valid_loss: Option<f64>,
    pub stopped_early: bool,
    pub skipped_steps: usize,
    pub train: DatasetStats,
    pub valid: Option<DatasetStats>,
    pub tokens_per_s: f64,
    pub peak_rss_mib: f64,
}

pub fn run(opts: &RunOptions) -> Result<RunSummary> {
    // ---- setup ----
    let cfg = &opts.config;
    let run_dir = cfg.output_dir.clone();
    prepare_run_dir(&run_dir, opts.resume)?;
    let mut model = match cfg.init {
        Init::Pretrained => match cfg.lora.as_ref().and_then(|l| l.quant_kind()) {
            // QLoRA: the frozen base held quantised, adapters in f32.
            Some(kind) => CausalLm::load_quantized(&opts.model_dir, kind, &Device::Cpu)?,
            None => CausalLm::load(&opts.model_dir, DType::F32, &Device::Cpu)?,
        },
        Init::Random => CausalLm::init_random(&opts.model_dir, cfg.seed, &Device::Cpu)?,
    };
    model.fused_loss = cfg.train.fused_loss;
    model.gradient_checkpointing = cfg.train.gradient_checkpointing.then_some(cfg.train.checkpoint_every);
    model.fused_attention = cfg.train.fused_attention;
    let mut tok = ModelTokenizer::load(&opts.model_dir).map_err(Error::Data)?;
    if let Some(choice) = &cfg.data.chat_template {
        tok.set_chat_template(ChatTemplate::from_choice(choice).map_err(Error::Data)?);
    }
    let (train, mut train_stats) = load(&cfg.data.train, cfg, &tok)?;
    let (mut train, mut valid, valid_stats) = validation_split(train, cfg, &tok)?;
    if cfg.data.valid_fraction.is_some() {
        // Held-out records count under validation, not twice (truncation counts stay the file's).
        train_stats = DatasetStats { truncated: train_stats.truncated, dropped_overlong: train_stats.dropped_overlong, ..train.stats() };
    }
    let pad_id = tok
        .special_tokens
        .get("pad_token")
        .or(tok.special_tokens.get("eos_token"))
        .and_then(|t| tok.token_id(t))
        .unwrap_or(0);

    let mut lora = cfg.lora_config().map_err(|m| Error::Config { path: run_dir.join("config.toml"), message: m })?;
    // One dropout generator for every adapter, reseeded each step (see `LoraDropout`).
    let dropout = Arc::new(Mutex::new(DropoutState::new(cfg.seed)));
    if let Some(path) = cfg.dpo.as_ref().and_then(|d| d.adapter.as_ref()) {
        lora = Some(whet_adapter::load_adapter(&mut model, path)?);
    } else if let Some(lc) = &lora {
        whet_adapter::init_adapter(&mut model, lc, cfg.seed)?;
    }
    let mut reference = build_reference(cfg, &model, &opts.model_dir, lora.is_some())?;
    if cfg.dpo.as_ref().is_some_and(|d| d.precompute_reference) {
        for examples in [&mut train, &mut valid] {
            if let Examples::Pairs(pairs, _) = examples {
                reference.precompute(&mut model, pairs, cfg.train.micro_batch_size, pad_id)?;
            }
        }
        reference = Reference::None;
    }
    let params = match &lora {
        Some(lc) => {
            if lc.lora_dropout > 0.0 && cfg.method != Method::Dpo {
                for (_, proj) in model.projections_mut() {
                    if let Some(l) = &mut proj.lora {
                        l.dropout = Some(LoraDropout { p: lc.lora_dropout as f32, state: dropout.clone() });
                    }
                }
            }
            lora_params(&mut model, cfg.train.weight_decay)?
        }
        None => full_params(&mut model, cfg.train.weight_decay)?,
    };
    let t = &cfg.train;
    let mut opt = AdamW::new(AdamWConfig { beta1: t.beta1, beta2: t.beta2, eps: t.eps });
    let mut state = TrainState::default();
    if opts.resume {
        let last = checkpoints(&run_dir)?.pop().ok_or_else(|| Error::RunDir {
            path: run_dir.clone(),
            message: "has no checkpoint to resume from".into(),
        })?;
        state = load_checkpoint(&last, &params, &mut opt)?;
    } else {
        write_run_files(&run_dir, opts, &train_stats, valid_stats.as_ref())?;
    }
    let rows = cfg.train.micro_batch_size;
    // With packing, rows depend on record order, so shuffled epochs may pack a row more or less
    // than this count (taken in file order); the schedule's length is fixed from it all the same.
    let micro_per_epoch = train.batches(&(0..train.len()).collect::<Vec<_>>(), rows, cfg, pad_id).len();
    let steps_per_epoch = micro_per_epoch.div_ceil(t.grad_accum);
    let total = t.max_steps.unwrap_or(t.epochs * steps_per_epoch).max(1);
    let mut metrics = MetricsLog::open(&run_dir.join("metrics.jsonl"))?;
    let mut board = EventWriter::create(&run_dir.join("tensorboard"))?;
    let bar = progress_bar(opts.progress, total, state.step);
    let started = Instant::now();
    let (mut tokens_seen, mut last_loss, mut last_valid, mut stopped_early) = (0usize, None, None, false);

    // ---- loop ----
    'training: while state.step < total {
        let order = epoch_order(train.len(), cfg.seed, state.epoch);
        let batches = train.batches(&order, rows, cfg, pad_id);
        while state.micro_batch < batches.len() && state.step < total {
            let end = (state.micro_batch + t.grad_accum).min(batches.len());
            let lr = learning_rate(t, state.step, total);
            let step_start = Instant::now();
            set_dropout(&dropout, Some(derive_seed(cfg.seed ^ DROPOUT_SALT, state.step as u64)));
            let result = batches.step(state.micro_batch..end, &mut model, &params, &reference);
            set_dropout(&dropout, None);
            let StepOutput { loss, targets: n_targets, tokens, mut grads, extra } = result?;
            let grad_norm = clip_grad_norm(&mut grads, if t.max_grad_norm > 0.0 { t.max_grad_norm } else { f64::INFINITY })?;
            let finite = loss.is_finite() && grad_norm.is_finite();
            if finite {
                opt.step(&params, &grads, lr)?;
            } else {
                state.skipped_steps += 1;
            }
            state.micro_batch = end;
            state.step += 1;
            tokens_seen += tokens;
            let secs = step_start.elapsed().as_secs_f64();
            last_loss = Some(loss);
            let mut record = json!({
                "step": state.step, "epoch": state.epoch, "loss": finite_or_null(loss), "lr": lr,
                "grad_norm": finite_or_null(grad_norm), "target_tokens": n_targets, "tokens": tokens,
                "tokens_per_s": tokens as f64 / secs, "step_time_s": secs, "peak_rss_mib": peak_rss_mib(),
                "skipped": !finite,
            });
            for (name, value) in &extra {
                record[*name] = finite_or_null(*value);
            }
            metrics.write(&record)?;
            let mut scalars = vec![("train/loss".to_string(), loss), ("train/lr".into(), lr), ("train/grad_norm".into(), grad_norm), ("train/tokens_per_s".into(), tokens as f64 / secs)];
            scalars.extend(extra.iter().map(|(name, v)| (format!("train/{name}"), *v)));
            board.scalars(state.step as u64, &scalars.iter().map(|(n, v)| (n.as_str(), *v)).collect::<Vec<_>>())?;
            bar.set_position(state.step as u64);
            bar.set_message(format!("loss {loss:.4} lr {lr:.2e} {:.0} tok/s", tokens as f64 / secs));
            if !finite {
                bar.println(format!("step {}: non-finite loss or gradient; update skipped", state.step));
            }

            if t.eval_every > 0 && state.step % t.eval_every == 0 && !valid.is_empty() {
                let v = evaluate(&mut model, &reference, &valid, rows, cfg, pad_id, state.step, &mut metrics, &mut board)?;
                last_valid = Some(v);
                if record_eval(&mut state, v, t.early_stopping_patience) {
                    stopped_early = true;
                    bar.println(format!("step {}: validation loss has not improved for {} evaluations; stopping early", state.step, state.evals_without_improvement));
                    break 'training;
                }
            }
            if t.save_every > 0 && state.step % t.save_every == 0 {
                save_checkpoint(&run_dir, &params, &opt, &state, t.keep_checkpoints)?;
            }
            if opts.stop_after == Some(state.step) && state.step < total {
                save_checkpoint(&run_dir, &params, &opt, &state, t.keep_checkpoints)?;
                plot_losses(&run_dir, cfg)?;
                bar.finish_and_clear();
                return Ok(summary(&run_dir, None, &state, total, last_loss, last_valid, stopped_early, train_stats, valid_stats, tokens_seen, started));
            }
        }
        if state.micro_batch >= batches.len() {
            state.epoch += 1;
            state.micro_batch = 0;
        }
    }
    bar.finish_and_clear();

    // ---- save ----
    if !valid.is_empty() && (last_valid.is_none() || t.eval_every == 0 || state.step % t.eval_every != 0) {
        let v = evaluate(&mut model, &reference, &valid, rows, cfg, pad_id, state.step, &mut metrics, &mut board)?;
        last_valid = Some(v);
        record_eval(&mut state, v, None);
    }
    save_checkpoint(&run_dir, &params, &opt, &state, t.keep_checkpoints)?;
    let output = match &lora {
        Some(lc) => {
            let dir = run_dir.join("adapter");
            whet_adapter::save_adapter(&model, lc, &dir)?;
            copy_tokenizer_files(&opts.model_dir, &dir, &tok)?;
            dir
        }
        None => {
            let dir = run_dir.join("model");
            whet_models::save::save_model_dir(&model, &opts.model_dir, &dir, whet_models::save::stored_dtype(&opts.model_dir)?)?;
            copy_tokenizer_files(&opts.model_dir, &dir, &tok)?;
            dir
        }
    };
    plot_losses(&run_dir, cfg)?;
    let s = summary(&run_dir, Some(output), &state, total, last_loss, last_valid, stopped_early, train_stats, valid_stats, tokens_seen, started);
    let path = run_dir.join("summary.json");
    std::fs::write(&path, serde_json::to_string_pretty(&s).unwrap_or_default()).map_err(|source| Error::Io { path, source })?;
    Ok(s)
}

/// Draws `loss.png` from everything `metrics.jsonl` holds (all segments of a resumed run).
fn plot_losses(run_dir: &Path, cfg: &TrainConfig) -> Result<()> {
    let series = LossSeries::from_metrics(&run_dir.join("metrics.jsonl"))?;
    let name = run_dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    write_loss_png(&series, &format!("{} {name}", cfg.method.name()), &run_dir.join("loss.png"))
}

/// Keeps LoRA dropout's generators apart from the batch order's.
const DROPOUT_SALT: u64 = 0x0D50_0D50;

/// Switches LoRA dropout on with a generator seeded by `seed`, or off with `None`.
fn set_dropout(state: &Mutex<DropoutState>, seed: Option<u64>) {
    let mut s = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match seed {
        Some(seed) => *s = DropoutState { active: true, ..DropoutState::new(seed) },
        None => s.active = false,
    }
}

/// Validation without updating anything, logged to `metrics.jsonl` and TensorBoard: the mean
/// loss per target token and perplexity (`sft`, `cpt`), or the mean loss per pair, reward
/// accuracy and margin (`dpo`). Returns the loss (for early stopping).
#[allow(clippy::too_many_arguments)]
fn evaluate(
    model: &mut CausalLm,
    reference: &Reference,
    examples: &Examples,
    rows: usize,
    cfg: &TrainConfig,
    pad_id: u32,
    step: usize,
    metrics: &mut MetricsLog,
    board: &mut EventWriter,
) -> Result<f64> {
    let order: Vec<usize> = (0..examples.len()).collect();
    let values: Vec<(&str, f64)> = match examples.batches(&order, rows, cfg, pad_id) {
        Batches::Lm(batches) => {
            let (mut nll, mut n) = (0f64, 0usize);
            for batch in &batches {
                let (sum, count) = cross_entropy_sum(model, batch)?;
                nll += sum.detach().to_scalar::<f32>()? as f64;
                n += count;
            }
            let v = nll / n.max(1) as f64;
            vec![("loss", v), ("perplexity", v.exp())]
        }
        Batches::Pairs(batches, loss) => {
            let pairs: usize = batches.iter().map(PreferenceBatch::pairs).sum();
            let (mut l, mut acc, mut margin) = (0f64, 0f64, 0f64);
            for batch in &batches {
                let w = batch.pairs() as f64 / pairs.max(1) as f64;
                let (_, m) = preference_loss(model, batch, loss, reference)?;
                l += w * m.loss;
                acc += w * m.rewards_accuracies;
                margin += w * m.rewards_margins;
            }
            vec![("loss", l), ("rewards/accuracies", acc), ("rewards/margins", margin)]
        }
    };
    let mut record = json!({"step": step});
    for (name, v) in &values {
        record[format!("eval_{name}")] = json!(v);
    }
    metrics.write(&record)?;
    let named: Vec<(String, f64)> = values.iter().map(|(n, v)| (format!("eval/{n}"), *v)).collect();
    board.scalars(step as u64, &named.iter().map(|(n, v)| (n.as_str(), *v)).collect::<Vec<_>>())?;
    Ok(values[0].1)
}

/// A run's examples: what the recipe trains on.
enum Examples {
    /// Token sequences with a target mask (`sft`, `cpt`).
    Lm(Vec<Tokenized>),
    /// Preference pairs and the loss to train them with (`dpo`).
    Pairs(Vec<PairExample>, PreferenceObjective),
}

/// One epoch's micro-batches.
enum Batches {
    Lm(Vec<Batch>),
    Pairs(Vec<PreferenceBatch>, PreferenceObjective),
}

/// What one optimiser step's micro-batches give.
struct StepOutput {
    loss: f64,
    /// Target tokens (`sft`, `cpt`) or completion tokens of both answers (`dpo`).
    targets: usize,
    /// Non-padding tokens.
    tokens: usize,
    grads: HashMap<String, Tensor>,
    /// Recipe metrics logged with the step (`dpo`'s rewards and log-probs).
    extra: Vec<(&'static str, f64)>,
}

impl Examples {
    fn len(&self) -> usize {
        match self {
            Examples::Lm(e) => e.len(),
            Examples::Pairs(p, _) => p.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// No examples, of the same kind.
    fn empty_like(&self) -> Examples {
        match self {
            Examples::Lm(_) => Examples::Lm(Vec::new()),
            Examples::Pairs(_, loss) => Examples::Pairs(Vec::new(), *loss),
        }
    }

    fn batches(&self, order: &[usize], rows: usize, cfg: &TrainConfig, pad_id: u32) -> Batches {
        match self {
            Examples::Lm(e) => Batches::Lm(micro_batches(e, order, rows, cfg.data.max_seq_len, cfg.data.packing, pad_id)),
            Examples::Pairs(p, loss) => Batches::Pairs(preference_batches(p, order, rows, pad_id), *loss),
        }
    }

    /// Splits off the examples whose indices are in `held` (kept, held out).
    fn split(self, held: &std::collections::HashSet<usize>) -> (Examples, Examples) {
        fn split<T>(items: Vec<T>, held: &std::collections::HashSet<usize>) -> (Vec<T>, Vec<T>) {
            let (mut kept, mut out) = (Vec::new(), Vec::new());
            for (i, x) in items.into_iter().enumerate() {
                if held.contains(&i) { out.push(x) } else { kept.push(x) }
            }
            (kept, out)
        }
        match self {
            Examples::Lm(e) => {
                let (a, b) = split(e, held);
                (Examples::Lm(a), Examples::Lm(b))
            }
            Examples::Pairs(p, loss) => {
                let (a, b) = split(p, held);
                (Examples::Pairs(a, loss), Examples::Pairs(b, loss))
            }
        }
    }

    fn stats(&self) -> DatasetStats {
        let (records, tokens, target_tokens) = match self {
            Examples::Lm(e) => (e.len(), e.iter().map(|e| e.ids.len()).sum(), e.iter().map(Tokenized::num_targets).sum()),
            Examples::Pairs(p, _) => (
                p.len(),
                p.iter().map(|p| p.chosen.ids.len() + p.rejected.ids.len()).sum(),
                p.iter().map(|p| p.chosen.num_completion_tokens() + p.rejected.num_completion_tokens()).sum(),
            ),
        };
        DatasetStats { records, tokens, target_tokens, ..Default::default() }
    }
}

impl Batches {
    fn len(&self) -> usize {
        match self {
            Batches::Lm(b) => b.len(),
            Batches::Pairs(b, _) => b.len(),
        }
    }

    /// Loss and gradients of the micro-batches in `range` (one optimiser step).
    fn step(&self, range: std::ops::Range<usize>, model: &mut CausalLm, params: &[Param], reference: &Reference) -> Result<StepOutput> {
        match self {
            Batches::Lm(b) => {
                let chunk = &b[range];
                let (loss, targets, grads) = accumulate_gradients(model, params, chunk)?;
                Ok(StepOutput { loss, targets, tokens: chunk.iter().map(|b| b.tokens).sum(), grads, extra: Vec::new() })
            }
            Batches::Pairs(b, loss) => {
                let chunk = &b[range];
                let (m, grads) = preference_gradients(model, params, chunk, *loss, reference)?;
                let targets = chunk.iter().flat_map(|b| &b.completion).map(|r| r[1..].iter().filter(|c| **c).count()).sum();
                let tokens = chunk.iter().map(PreferenceBatch::tokens).sum();
                Ok(StepOutput { loss: m.loss, targets, tokens, grads, extra: m.named()[1..].to_vec() })
            }
        }
    }
}

/// DPO's reference model (see `dpo_reference.rs`); [`Reference::None`] for other recipes and
/// for the reference-free losses.
fn build_reference(cfg: &TrainConfig, model: &CausalLm, model_dir: &Path, lora_run: bool) -> Result<Reference> {
    let Some(dpo) = cfg.dpo.as_ref().filter(|d| cfg.method == Method::Dpo && d.loss().needs_reference()) else {
        return Ok(Reference::None);
    };
    Ok(match (lora_run, dpo.reference) {
        (true, ReferenceChoice::Start) if dpo.adapter.is_some() => Reference::Adapters(model.adapters_snapshot()?),
        // A fresh adapter starts with B = 0: the start is the base.
        (true, _) => Reference::Base,
        (false, _) => {
            let dir = dpo.reference_model.as_deref().unwrap_or(model_dir);
            let mut reference = CausalLm::load(dir, DType::F32, &Device::Cpu)?;
            reference.fused_loss = cfg.train.fused_loss;
            reference.fused_attention = cfg.train.fused_attention;
            Reference::Model(Box::new(reference))
        }
    })
}

/// Reads a dataset file the way the run's method needs it.
fn load(path: &Path, cfg: &TrainConfig, tok: &ModelTokenizer) -> Result<(Examples, DatasetStats)> {
    if cfg.method != Method::Dpo {
        let (examples, stats) = load_examples(path, cfg.method, &cfg.data, tok)?;
        return Ok((Examples::Lm(examples), stats));
    }
    let dpo = cfg.dpo.clone().unwrap_or_default();
    // ORPO and SimPO (TRL's ORPO/CPO trainers) end each answer with EOS.
    let eos = match dpo.loss {
        DpoLossType::Orpo | DpoLossType::Simpo => Some(
            tok.special_tokens.get("eos_token").and_then(|t| tok.token_id(t)).ok_or_else(|| Error::Config {
                path: cfg.output_dir.join("config.toml"),
                message: format!("dpo.loss = {:?} appends EOS to each answer, but the tokenizer has no eos_token", dpo.loss),
            })?,
        ),
        _ => None,
    };
    let (pairs, stats) = load_pairs(path, &dpo, tok, eos)?;
    Ok((Examples::Pairs(pairs, dpo.objective()), stats))
}

/// Updates the early-stopping state with validation loss `v`; true when patience ran out.
fn record_eval(state: &mut TrainState, v: f64, patience: Option<usize>) -> bool {
    if state.best_valid_loss.is_none_or(|best| v < best) {
        state.best_valid_loss = Some(v);
        state.evals_without_improvement = 0;
    } else {
        state.evals_without_improvement += 1;
    }
    patience.is_some_and(|p| state.evals_without_improvement >= p)
}

/// Holds out `valid_fraction` of the training examples (a seeded choice), or loads `data.valid`.
fn validation_split(train: Examples, cfg: &TrainConfig, tok: &ModelTokenizer) -> Result<(Examples, Examples, Option<DatasetStats>)> {
    if let Some(path) = &cfg.data.valid {
        let (valid, stats) = load(path, cfg, tok)?;
        return Ok((train, valid, Some(stats)));
    }
    let Some(fraction) = cfg.data.valid_fraction else {
        let none = train.empty_like();
        return Ok((train, none, None));
    };
    let n_valid = ((train.len() as f64 * fraction).round() as usize).clamp(1, train.len().saturating_sub(1).max(1));
    // A permutation from a seed of its own, so the held-out choice does not repeat epoch 0's order.
    const HOLDOUT_SALT: u64 = 0x0005_EED0_F7A1;
    let held: std::collections::HashSet<usize> =
        epoch_order(train.len(), cfg.seed ^ HOLDOUT_SALT, 0).into_iter().take(n_valid).collect();
    let (kept, valid) = train.split(&held);
    let stats = valid.stats();
    Ok((kept, valid, Some(stats)))
}

/// A new run needs an empty (or absent) directory; a resumed one needs the old one.
fn prepare_run_dir(dir: &Path, resume: bool) -> Result<()> {
    let non_empty = dir.is_dir() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false);
    if non_empty && !resume {
        return Err(Error::RunDir {
            path: dir.to_path_buf(),
            message: "exists and is not empty; pass --resume to continue that run, or choose another output_dir (nothing is overwritten)".into(),
        });
    }
    if resume && !dir.is_dir() {
        return Err(Error::RunDir { path: dir.to_path_buf(), message: "does not exist; nothing to resume".into() });
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })
}

fn write_run_files(dir: &Path, opts: &RunOptions, train: &DatasetStats, valid: Option<&DatasetStats>) -> Result<()> {
    let cfg = &opts.config;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| Error::Io { path, source })
    };
    write("config.toml", toml::to_string_pretty(cfg).unwrap_or_default())?;
    let mut data = serde_json::Map::new();
    for (role, path) in [("train", Some(&cfg.data.train)), ("valid", cfg.data.valid.as_ref())] {
        if let Some(path) = path {
            data.insert(role.into(), json!({"path": path, "sha256": whet_data::file_sha256(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?}));
        }
    }
    let run = json!({
        "whet_version": opts.whet_version,
        "method": cfg.method.name(),
        "base_model": cfg.model,
        "base_model_dir": opts.model_dir,
        "init": cfg.init,
        "seed": cfg.seed,
        "data": data,
        "train_stats": train,
        "valid_stats": valid,
    });
    write("run.json", serde_json::to_string_pretty(&run).unwrap_or_default())
}

/// The tokenizer files and the chat template the run used go next to the result, so inference
/// renders prompts exactly as training did.
fn copy_tokenizer_files(model_dir: &Path, out: &Path, tok: &ModelTokenizer) -> Result<()> {
    for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
        let src = model_dir.join(name);
        if src.is_file() {
            std::fs::copy(&src, out.join(name)).map_err(|source| Error::Io { path: src.clone(), source })?;
        }
    }
    if let Ok(template) = tok.chat_template() {
        let path = out.join("chat_template.jinja");
        std::fs::write(&path, template.source()).map_err(|source| Error::Io { path, source })?;
    }
    Ok(())
}

fn finite_or_null(x: f64) -> serde_json::Value {
    if x.is_finite() { json!(x) } else { serde_json::Value::Null }
}

fn progress_bar(show: bool, total: usize, at: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} step {pos}/{len} [{bar:30}] {msg} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_position(at as u64);
    bar
}

#[allow(clippy::too_many_arguments)]
fn summary(
    run_dir: &Path,
    output: Option<PathBuf>,
    state: &TrainState,
    total: usize,
    last_loss: Option<f64>,
    last_valid: Option<f64>,
    stopped_early: bool,
    train: DatasetStats,
    valid: Option<DatasetStats>,
    tokens: usize,
    started: Instant,
) -> RunSummary {
    RunSummary {
        run_dir: run_dir.to_path_buf(),
        output,
        steps: state.step,
        total_steps: total,
        final_train_loss: last_loss,
        final_valid_loss: last_valid,
        best_valid_loss: state.best_valid_loss,
        stopped_early,
        skipped_steps: state.skipped_steps,
        train,
        valid,
        tokens_per_s: tokens as f64 / started.elapsed().as_secs_f64().max(1e-9),
        peak_rss_mib: peak_rss_mib(),
    }
}
