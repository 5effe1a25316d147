//! A training run's configuration: one TOML file, validated in full before any work starts.
//! Unknown keys are errors that name the key and suggest the nearest valid one; `--set
//! section.key=value` overrides apply to the TOML before validation, so they are checked the
//! same way. Relative paths are relative to the config file, as in `whet data prep` configs
//! (`model` only when such a directory exists; otherwise it may be a Hub id). The resolved
//! config, with absolute paths, is written into the run directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use whet_data::prep::config::with_suggestion;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Supervised fine-tuning on conversations or instructions (loss on responses).
    Sft,
    /// Continued pretraining on raw text (loss on every token).
    Cpt,
    /// Preference training on prompt/chosen/rejected pairs (DPO and its variants, ORPO, SimPO;
    /// see the `[dpo]` section).
    Dpo,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Sft => "sft",
            Method::Cpt => "cpt",
            Method::Dpo => "dpo",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub method: Method,
    /// Base model directory or Hub id.
    pub model: String,
    /// `pretrained` (load `model`'s weights) or `random`: a fresh model with `model`'s
    /// `config.json` and tokenizer, for pretraining from scratch (full training only).
    #[serde(default)]
    pub init: Init,
    /// Where the run directory is created.
    pub output_dir: PathBuf,
    #[serde(default = "default_seed")]
    pub seed: u64,
    pub data: DataConfig,
    /// LoRA settings; without this section the run fine-tunes every weight.
    #[serde(default)]
    pub lora: Option<LoraSection>,
    #[serde(default)]
    pub train: TrainSection,
    /// Preference-training settings (`method = "dpo"` only).
    #[serde(default)]
    pub dpo: Option<DpoSection>,
}

/// The preference loss, as TRL names it (`loss_type`; ORPO and SimPO are TRL's ORPOTrainer and
/// CPOTrainer with `loss_type = "simpo"`, `cpo_alpha = 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DpoLossType {
    Sigmoid,
    Ipo,
    Hinge,
    Robust,
    Orpo,
    Simpo,
}

/// `[dpo]`: defaults are TRL 1.16's (`DPOConfig`, `CPOConfig`, `ORPOConfig`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DpoSection {
    pub loss: DpoLossType,
    /// β: the KL strength of DPO-style losses, SimPO's reward scale.
    pub beta: f64,
    /// `robust` only (TRL 1.16's `sigmoid` ignores it).
    pub label_smoothing: f64,
    /// SimPO's target margin γ.
    pub simpo_gamma: f64,
    /// ORPO's λ (TRL's `ORPOConfig.beta`).
    pub orpo_lambda: f64,
    /// Each prompt + answer sequence is cut to this many tokens (keeping its start); a pair whose
    /// prompt alone is this long is dropped.
    pub max_length: usize,
    /// Start from this adapter (e.g. an SFT run's `adapter/`) instead of a fresh one.
    pub adapter: Option<PathBuf>,
    /// The reference model: `start`, the model as training starts (with `adapter`, the base plus
    /// a frozen copy of it; for full fine-tuning, `reference_model`), or `base`, the base with
    /// adapters disabled (LoRA only; TRL's default for a `PeftModel`).
    pub reference: ReferenceChoice,
    /// Full fine-tuning: the reference model directory (default: `model`, loaded a second time).
    pub reference_model: Option<PathBuf>,
    /// RPO: adds this weight × the mean NLL of the chosen completions to a DPO-style loss (TRL:
    /// `loss_type = [loss, "sft"]`); keeps the chosen answers likely as the margin grows.
    pub sft_weight: f64,
    /// Score every pair with the reference once before training (TRL's
    /// `precompute_ref_log_probs`) instead of in every step; frees a full-fine-tuning reference
    /// model before the first step.
    pub precompute_reference: bool,
}

/// `dpo.reference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferenceChoice {
    #[default]
    Start,
    Base,
}

impl Default for DpoSection {
    fn default() -> Self {
        Self {
            loss: DpoLossType::Sigmoid,
            beta: 0.1,
            label_smoothing: 0.0,
            simpo_gamma: 0.5,
            orpo_lambda: 0.1,
            max_length: 1024,
            adapter: None,
            reference: ReferenceChoice::Start,
            reference_model: None,
            precompute_reference: false,
            sft_weight: 0.0,
        }
    }
}

impl DpoSection {
    /// The loss with the optional SFT term.
    pub fn objective(&self) -> crate::dpo_loss::PreferenceObjective {
        crate::dpo_loss::PreferenceObjective { loss: self.loss(), sft_weight: self.sft_weight }
    }

    /// The loss with its hyperparameters.
    pub fn loss(&self) -> crate::dpo_loss::PreferenceLoss {
        use crate::dpo_loss::PreferenceLoss as L;
        let beta = self.beta;
        match self.loss {
            DpoLossType::Sigmoid => L::Sigmoid { beta },
            DpoLossType::Robust => L::Robust { beta, label_smoothing: self.label_smoothing },
            DpoLossType::Ipo => L::Ipo { beta },
            DpoLossType::Hinge => L::Hinge { beta },
            DpoLossType::Orpo => L::Orpo { lambda: self.orpo_lambda },
            DpoLossType::Simpo => L::Simpo { beta, gamma: self.simpo_gamma },
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    #[default]
    Pretrained,
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Overlong {
    Truncate,
    Drop,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub train: PathBuf,
    /// A validation file; or `valid_fraction` of the training records held out.
    #[serde(default)]
    pub valid: Option<PathBuf>,
    #[serde(default)]
    pub valid_fraction: Option<f64>,
    /// `auto`, `messages`, `sharegpt`, `alpaca` or `text`.
    #[serde(default = "default_format")]
    pub format: String,
    #[serde(default = "default_max_seq_len")]
    pub max_seq_len: usize,
    #[serde(default = "default_overlong")]
    pub overlong: Overlong,
    /// Several records per sequence, without attention across them.
    #[serde(default)]
    pub packing: bool,
    /// Also train on prompt tokens (by default only assistant/response tokens).
    #[serde(default)]
    pub train_on_inputs: bool,
    /// A built-in chat template name or a Jinja file, instead of the tokenizer's.
    #[serde(default)]
    pub chat_template: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraSection {
    pub r: usize,
    pub alpha: f64,
    pub dropout: f64,
    /// `"all-linear"` or a list of module names.
    pub target_modules: toml::Value,
    pub use_rslora: bool,
    /// QLoRA: the frozen base's decoder-layer projections stored as `"nf4"` (bitsandbytes' NF4
    /// with double-quantised scales) or `"int8"` (LLM.int8 row-wise), dequantised on the fly.
    pub quantize: Option<String>,
}

impl LoraSection {
    /// The base-weight quantisation, validated by [`TrainConfig::validate`].
    pub fn quant_kind(&self) -> Option<whet_models::quant::QuantKind> {
        self.quantize.as_deref().and_then(|s| whet_models::quant::QuantKind::parse(s).ok())
    }
}

impl Default for LoraSection {
    fn default() -> Self {
        Self {
            r: 16,
            alpha: 32.0,
            dropout: 0.0,
            target_modules: toml::Value::String("all-linear".into()),
            use_rslora: false,
            quantize: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    Constant,
    Linear,
    Cosine,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSection {
    /// Passes over the training data; `max_steps`, when set, wins.
    pub epochs: usize,
    pub max_steps: Option<usize>,
    pub micro_batch_size: usize,
    pub grad_accum: usize,
    pub lr: f64,
    pub min_lr: f64,
    pub schedule: Schedule,
    pub warmup_steps: usize,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// 0 disables clipping.
    pub max_grad_norm: f64,
    /// Validate every N optimiser steps (and at the end); 0 only at the end.
    pub eval_every: usize,
    /// Checkpoint every N steps (and at the end); 0 only at the end.
    pub save_every: usize,
    pub keep_checkpoints: usize,
    /// Stop after this many evaluations without a better validation loss.
    pub early_stopping_patience: Option<usize>,
    /// Compute the loss through the chunked LM-head op, never materialising the full logits
    /// (`whet_models::fused_cross_entropy`); false: full logits and log-softmax, as before.
    pub fused_loss: bool,
    /// Checkpoint every decoder layer: keep only layer inputs for the backward pass and
    /// recompute each layer there (`whet_models::checkpointing`): less memory, about a third
    /// more compute, the same losses and gradients.
    pub gradient_checkpointing: bool,
    /// With `gradient_checkpointing`, checkpoint every Nth decoder layer (0, N, 2N, …), as
    /// torchtune's selective `ac_option`: N = 2 keeps about half the activations for a sixth
    /// of the recomputation. 1 (the default): every layer.
    pub checkpoint_every: usize,
    /// Attention through the fused op, never materialising the `(seq, seq)` scores
    /// (`whet_models::flash_attention`); false: scores, additive mask and softmax, as before.
    pub fused_attention: bool,
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            epochs: 1,
            max_steps: None,
            micro_batch_size: 4,
            grad_accum: 1,
            lr: 2e-4,
            min_lr: 0.0,
            schedule: Schedule::Cosine,
            warmup_steps: 0,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            max_grad_norm: 1.0,
            eval_every: 0,
            save_every: 0,
            keep_checkpoints: 2,
            early_stopping_patience: None,
            fused_loss: true,
            gradient_checkpointing: false,
            checkpoint_every: 1,
            fused_attention: true,
        }
    }
}

fn default_seed() -> u64 {
    42
}
fn default_format() -> String {
    "auto".into()
}
fn default_max_seq_len() -> usize {
    1024
}
fn default_overlong() -> Overlong {
    Overlong::Truncate
}

impl TrainConfig {
    /// Reads `path`, applies `overrides` (`section.key=value`, the value in TOML syntax or a bare
    /// string) and validates the result.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Self::parse(&text, path, path.parent().unwrap_or(Path::new(".")), overrides)
    }

    /// [`TrainConfig::load`] for a config held in memory: `path` names it in errors and relative
    /// paths are relative to `base`.
    pub fn parse(text: &str, path: &Path, base: &Path, overrides: &[String]) -> Result<Self> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| config_error(path, &e.to_string()))?;
        let had_lora = table.contains_key("lora");
        for o in overrides {
            apply_override(&mut table, o).map_err(|m| config_error(path, &format!("--set {o}: {m}")))?;
        }
        let config: TrainConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| config_error(path, &quantize_hint(&with_suggestion(&e.to_string()))))?;
        let mut config = config;
        if !had_lora && config.lora.as_ref().is_some_and(|l| l.quantize.is_some()) {
            // `--set lora.quantize=...` alone would create [lora] and turn full fine-tuning into
            // LoRA without the user asking for adapters.
            return Err(config_error(path, "`lora.quantize` quantises the frozen base under LoRA adapters, but this config has no [lora] section (it is full fine-tuning, whose weights cannot be quantised); add a [lora] section to train adapters over a quantised base"));
        }
        config.validate().map_err(|m| config_error(path, &m))?;
        config.resolve_paths(base);
        Ok(config)
    }

    /// Makes relative paths relative to `base`, the config file's directory.
    fn resolve_paths(&mut self, base: &Path) {
        use whet_data::prep::config::lexical_join;
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = lexical_join(base, p);
            }
        };
        join(&mut self.output_dir);
        join(&mut self.data.train);
        if let Some(v) = &mut self.data.valid {
            join(v);
        }
        if let Some(d) = self.dpo.as_mut() {
            for p in [d.adapter.as_mut(), d.reference_model.as_mut()].into_iter().flatten() {
                join(p);
            }
        }
        if let Some(t) = &self.data.chat_template {
            let candidate = lexical_join(base, Path::new(t));
            if Path::new(t).is_relative() && candidate.is_file() {
                self.data.chat_template = Some(candidate.display().to_string());
            }
        }
        let model = lexical_join(base, Path::new(&self.model));
        if Path::new(&self.model).is_relative() && model.is_dir() {
            self.model = model.display().to_string();
        }
    }

    /// Checks relations between values that serde cannot.
    fn validate(&self) -> std::result::Result<(), String> {
        let t = &self.train;
        if t.micro_batch_size == 0 || t.grad_accum == 0 {
            return Err("`train.micro_batch_size` and `train.grad_accum` must be at least 1".into());
        }
        if t.checkpoint_every == 0 {
            return Err("`train.checkpoint_every` must be at least 1 (1 checkpoints every layer)".into());
        }
        if t.checkpoint_every != 1 && !t.gradient_checkpointing {
            return Err(format!(
                "`train.checkpoint_every = {}` does nothing without `train.gradient_checkpointing = true`: set both, or remove it",
                t.checkpoint_every
            ));
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) || t.min_lr < 0.0 || t.min_lr > t.lr {
            return Err(format!("`train.lr` must be > 0 and `train.min_lr` in [0, lr]; got lr {} min_lr {}", t.lr, t.min_lr));
        }
        if self.data.max_seq_len < 2 {
            return Err("`data.max_seq_len` must be at least 2".into());
        }
        if let Some(f) = self.data.valid_fraction {
            if !(f > 0.0 && f < 1.0) || self.data.valid.is_some() {
                return Err("`data.valid_fraction` must be in (0, 1) and not combined with `data.valid`".into());
            }
        }
        if !["auto", "messages", "sharegpt", "alpaca", "text"].contains(&self.data.format.as_str()) {
            return Err(format!("`data.format` is `{}`; use auto, messages, sharegpt, alpaca or text", self.data.format));
        }
        if self.init == Init::Random && self.lora.is_some() {
            return Err("`init = \"random\"` trains every weight; remove the [lora] section (LoRA adapts pretrained weights)".into());
        }
        if self.method == Method::Dpo {
            let d = self.dpo.clone().unwrap_or_default();
            // `dpo.adapter` alone makes a LoRA run (the adapter's own config is used).
            let lora_run = self.lora.is_some() || d.adapter.is_some();
            if !lora_run && d.reference == ReferenceChoice::Base {
                return Err("`dpo.reference = \"base\"` disables adapters, so it needs a [lora] section or `dpo.adapter` (full fine-tuning's reference is `dpo.reference_model`)".into());
            }
            if lora_run && d.reference_model.is_some() {
                return Err("`dpo.reference_model` is for full fine-tuning; with [lora] the reference is the base itself (`dpo.reference = \"start\"` or `\"base\"`), so remove it".into());
            }
            if self.data.format != "auto" {
                return Err(format!("`data.format` is `{}`; method = \"dpo\" reads preference pairs with format = \"auto\"", self.data.format));
            }
            if !(d.beta > 0.0 && d.beta.is_finite()) || d.orpo_lambda.is_nan() || d.orpo_lambda < 0.0 || !d.simpo_gamma.is_finite() {
                return Err("`dpo.beta` must be > 0, `dpo.orpo_lambda` >= 0 and `dpo.simpo_gamma` finite".into());
            }
            if !(d.sft_weight >= 0.0 && d.sft_weight.is_finite()) || (d.sft_weight > 0.0 && !d.loss().needs_reference()) {
                return Err(format!("`dpo.sft_weight` must be >= 0 and is for the DPO losses (sigmoid, ipo, hinge, robust); ORPO has its own NLL term (got {} with loss {:?})", d.sft_weight, d.loss));
            }
            if !(0.0..0.5).contains(&d.label_smoothing) {
                return Err(format!("`dpo.label_smoothing` must be in [0, 0.5), got {}", d.label_smoothing));
            }
            if d.max_length < 2 {
                return Err("`dpo.max_length` must be at least 2".into());
            }
        } else if self.dpo.is_some() {
            return Err(format!("a [dpo] section with method = \"{}\"; it applies to method = \"dpo\" only", self.method.name()));
        }
        if let Some(l) = &self.lora {
            if l.r == 0 {
                return Err("`lora.r` must be at least 1".into());
            }
            if !(0.0..1.0).contains(&l.dropout) {
                return Err(format!("`lora.dropout` must be in [0, 1), got {}", l.dropout));
            }
            if let Some(q) = &l.quantize {
                whet_models::quant::QuantKind::parse(q).map_err(|m| format!("`lora.quantize`: {m}"))?;
            }
        }
        Ok(())
    }

    /// The LoRA config for whet-adapter, when this is a LoRA run.
    pub fn lora_config(&self) -> std::result::Result<Option<whet_adapter::LoraConfig>, String> {
        let Some(l) = &self.lora else { return Ok(None) };
        let target_modules = match &l.target_modules {
            toml::Value::String(s) if s == "all-linear" => whet_adapter::TargetModules::AllLinear,
            toml::Value::String(s) => whet_adapter::TargetModules::Regex(s.clone()),
            toml::Value::Array(items) => whet_adapter::TargetModules::Names(
                items.iter().map(|v| v.as_str().map(str::to_string).ok_or("`lora.target_modules` must hold strings")).collect::<std::result::Result<_, _>>()?,
            ),
            _ => return Err("`lora.target_modules` must be \"all-linear\" or a list of module names".into()),
        };
        Ok(Some(whet_adapter::LoraConfig {
            r: l.r,
            lora_alpha: l.alpha,
            lora_dropout: l.dropout,
            use_rslora: l.use_rslora,
            target_modules,
            base_model_name_or_path: Some(self.model.clone()),
        }))
    }
}

/// An unknown `quantize` key (it is known only in [lora]) gets told where it belongs.
fn quantize_hint(message: &str) -> String {
    if message.contains("unknown field `quantize`") {
        format!("{message}\n`quantize` is a [lora] key (`lora.quantize = \"nf4\"` or `\"int8\"`): QLoRA quantises the frozen base under LoRA adapters; full fine-tuning cannot quantise the weights it trains")
    } else {
        message.to_string()
    }
}

fn config_error(path: &Path, message: &str) -> Error {
    Error::Config { path: path.to_path_buf(), message: message.trim().to_string() }
}

/// Sets `a.b.c = value` in `table`, parsing `value` as TOML or, failing that, as a string.
fn apply_override(table: &mut toml::Table, assignment: &str) -> std::result::Result<(), String> {
    let (key, raw) = assignment.split_once('=').ok_or("expected key=value")?;
    let value: toml::Value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let (last, sections) = parts.split_last().ok_or("empty key")?;
    let mut current = table;
    for section in sections {
        current = current
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("`{section}` is not a section"))?;
    }
    current.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    const MINIMAL: &str = "method = \"sft\"\nmodel = \"m\"\noutput_dir = \"runs\"\n[data]\ntrain = \"t.jsonl\"\n";

    #[test]
    fn defaults_fill_an_empty_train_section() {
        let t = TrainSection::default();
        assert_eq!((t.epochs, t.micro_batch_size, t.keep_checkpoints), (1, 4, 2));
        let (_d, p) = write(MINIMAL);
        let c = TrainConfig::load(&p, &[]).unwrap();
        assert!(c.lora.is_none() && c.train.lr == 2e-4);
        assert!(c.train.fused_loss && !c.train.gradient_checkpointing);
    }

    #[test]
    fn unknown_key_is_named_with_the_nearest_valid_one() {
        let (_d, p) = write(&format!("{MINIMAL}[train]\nlerning_rate = 0.1\n"));
        let err = TrainConfig::load(&p, &[]).unwrap_err().to_string();
        assert!(err.contains("lerning_rate") && err.contains("run.toml"), "{err}");
        let (_d, p) = write(&format!("{MINIMAL}[train]\nmicro_bach_size = 2\n"));
        let err = TrainConfig::load(&p, &[]).unwrap_err().to_string();
        assert!(err.contains("did you mean `micro_batch_size`"), "{err}");
    }

    #[test]
    fn dpo_checks_its_section_and_reference() {
        let dpo = "method = \"dpo\"\nmodel = \"m\"\noutput_dir = \"runs\"\n[data]\ntrain = \"t.jsonl\"\n";
        let (_d, p) = write(dpo);
        let c = TrainConfig::load(&p, &[]).unwrap();
        assert!(c.lora.is_none(), "full fine-tuning DPO");
        let (_d, p) = write(&format!("{dpo}[dpo]\nreference = \"base\"\n"));
        let err = TrainConfig::load(&p, &[]).unwrap_err().to_string();
        assert!(err.contains("needs a [lora] section or `dpo.adapter`"), "{err}");
        let (_d, p) = write(&format!("{dpo}[lora]\n[dpo]\nreference_model = \"ref\"\n"));
        let err = TrainConfig::load(&p, &[]).unwrap_err().to_string();
        assert!(err.contains("`dpo.reference_model` is for full fine-tuning"), "{err}");
        let (_d, p) = write(&format!("{dpo}[dpo]\nloss = \"orpo\"\nsft_weight = 1.0\n"));
        let err = TrainConfig::load(&p, &[]).unwrap_err().to_string();
        assert!(err.contains("dpo.sft_weight") && err.contains("ORPO has its own NLL"), "{err}");
        let (_d, p) = write(&format!("{dpo}[lora]\nr = 4\n[dpo]\nloss = \"ipo\"\n"));
        let c = TrainConfig::load(&p, &[]).unwrap();
        let d = c.dpo.unwrap();
        assert_eq!((d.loss, d.beta, d.max_length), (DpoLossType::Ipo, 0.1, 1024));
        let (_d, p) = write(&format!("{dpo}[lora]\n[dpo]\nbetta = 0.2\n"));
        let err = TrainConfig::load(&p, &[]).unwrap_err().to_string();
        assert!(err.contains("did you mean `beta`"), "{err}");
        let (_d, p) = write(&format!("{dpo}[lora]\n[dpo]\nloss = \"kto\"\n"));
        assert!(TrainConfig::load(&p, &[]).is_err());
        let (_d, p) = write(&format!("{MINIMAL}[dpo]\nbeta = 0.2\n"));
        let err = TrainConfig::load(&p, &[]).unwrap_err().to_string();
        assert!(err.contains("method = \"dpo\" only"), "{err}");
    }

    #[test]
    fn overrides_apply_before_validation() {
        let (_d, p) = write(MINIMAL);
        let c = TrainConfig::load(&p, &["train.lr=0.01".into(), "lora.r=8".into(), "data.format=alpaca".into(), "train.gradient_checkpointing=true".into()]).unwrap();
        assert_eq!(c.train.lr, 0.01);
        assert!(c.train.gradient_checkpointing);
        let err = TrainConfig::load(&p, &["train.checkpoint_every=0".into()]).unwrap_err().to_string();
        assert!(err.contains("train.checkpoint_every"), "{err}");
        let err = TrainConfig::load(&p, &["train.checkpoint_every=2".into()]).unwrap_err().to_string();
        assert!(err.contains("train.gradient_checkpointing = true"), "{err}");
        let both = ["train.checkpoint_every=2".into(), "train.gradient_checkpointing=true".into()];
        assert_eq!(TrainConfig::load(&p, &both).unwrap().train.checkpoint_every, 2);
        assert_eq!(c.lora.unwrap().r, 8);
        assert_eq!(c.data.format, "alpaca");
        let err = TrainConfig::load(&p, &["train.lr=-1".into()]).unwrap_err().to_string();
        assert!(err.contains("train.lr"), "{err}");
        let err = TrainConfig::load(&p, &["trian.lr=1".into()]).unwrap_err().to_string();
        assert!(err.contains("trian"), "{err}");
    }

    #[test]
    fn quantize_is_a_lora_key_and_is_refused_without_a_lora_section() {
        let (_d, p) = write(&format!("{MINIMAL}[lora]\nquantize = \"nf4\"\n"));
        let c = TrainConfig::load(&p, &[]).unwrap();
        assert_eq!(c.lora.unwrap().quant_kind(), Some(whet_models::quant::QuantKind::Nf4));
        let (_d, p) = write(&format!("{MINIMAL}[lora]\nquantize = \"fp4\"\n"));
        let err = TrainConfig::load(&p, &[]).unwrap_err().to_string();
        assert!(err.contains("`lora.quantize`") && err.contains("fp4") && err.contains("nf4"), "{err}");
        let (_d, p) = write(MINIMAL);
        let err = TrainConfig::load(&p, &["lora.quantize=int8".into()]).unwrap_err().to_string();
        assert!(err.contains("`lora.quantize`") && err.contains("no [lora] section"), "{err}");
        let c = TrainConfig::load(&p, &["lora.r=4".into(), "lora.quantize=int8".into()]);
        assert!(c.is_err(), "an override-made [lora] section does not license quantisation");
        let (_d, p) = write(&MINIMAL.replace("[data]", "quantize = \"nf4\"\n[data]"));
        let err = TrainConfig::load(&p, &[]).unwrap_err().to_string();
        assert!(err.contains("`quantize` is a [lora] key"), "{err}");
    }
}
