//! `generation_config.json`: the end-of-sequence tokens and default sampling settings a model
//! ships with, read as transformers' `GenerationConfig` reads them.

use std::path::Path;

use crate::config::{DecoderConfig, HfConfig};
use crate::error::Result;
use crate::generation::SamplingParams;

/// transformers' default `top_k` when sampling is on and the file sets none.
const DEFAULT_TOP_K: usize = 50;

/// Sampling settings a caller chose; `None` keeps `generation_config.json`'s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplingChoices {
    pub temperature: Option<f32>,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
    pub repetition_penalty: Option<f32>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerationConfig {
    /// All end-of-sequence ids (`eos_token_id` may be one id or a list).
    pub eos_token_ids: Vec<u32>,
    pub do_sample: bool,
    pub temperature: Option<f32>,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
    pub repetition_penalty: Option<f32>,
    pub max_new_tokens: Option<usize>,
}

impl GenerationConfig {
    /// Reads `dir/generation_config.json`; a missing file means transformers' defaults.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("generation_config.json");
        if !path.is_file() {
            return Ok(Self::default());
        }
        let hf = HfConfig::read(&path)?;
        let f32_of = |key: &str| -> Result<Option<f32>> { Ok(hf.opt_f64(key)?.map(|v| v as f32)) };
        Ok(Self {
            eos_token_ids: hf.token_ids("eos_token_id")?,
            do_sample: hf.bool_or("do_sample", false)?,
            temperature: f32_of("temperature")?,
            top_k: hf.opt_usize("top_k")?,
            top_p: f32_of("top_p")?,
            min_p: f32_of("min_p")?,
            repetition_penalty: f32_of("repetition_penalty")?,
            max_new_tokens: hf.opt_usize("max_new_tokens")?,
        })
    }

    /// End-of-sequence ids: all of this file's, else `config.json`'s (`model`), else the
    /// tokenizer's `eos_token` (`tokenizer_eos`).
    pub fn resolve_eos_token_ids(&self, model: &DecoderConfig, tokenizer_eos: Option<u32>) -> Vec<u32> {
        if !self.eos_token_ids.is_empty() {
            return self.eos_token_ids.clone();
        }
        if !model.eos_token_ids.is_empty() {
            return model.eos_token_ids.clone();
        }
        tokenizer_eos.into_iter().collect()
    }

    /// The sampling settings this file asks for, with a caller's choices (flags, request
    /// fields) over them. An explicit temperature decides greedy vs sampling on its own, without
    /// the file's top-k default sneaking in.
    pub fn sampling_with(&self, seed: u64, choices: &SamplingChoices) -> SamplingParams {
        let mut sampling = self.sampling(seed);
        if let Some(t) = choices.temperature {
            sampling.temperature = t;
            sampling.top_k = None;
        }
        sampling.top_k = choices.top_k.or(sampling.top_k);
        sampling.top_p = choices.top_p.or(sampling.top_p);
        sampling.min_p = choices.min_p.or(sampling.min_p);
        sampling.repetition_penalty = choices.repetition_penalty.or(sampling.repetition_penalty);
        sampling
    }

    /// The sampling settings this file asks for: greedy unless `do_sample`, as in transformers.
    pub fn sampling(&self, seed: u64) -> SamplingParams {
        let repetition_penalty = self.repetition_penalty;
        if !self.do_sample {
            return SamplingParams {
                repetition_penalty,
                seed,
                ..SamplingParams::default()
            };
        }
        SamplingParams {
            temperature: self.temperature.unwrap_or(1.0),
            top_k: Some(self.top_k.unwrap_or(DEFAULT_TOP_K)),
            top_p: self.top_p,
            min_p: self.min_p,
            repetition_penalty,
            seed,
        }
    }
}
