//! `generation_config.json`: the end-of-sequence tokens and default sampling settings a model
//! ships with, read as transformers' `GenerationConfig` reads them.

use std::path::Path;

use crate::config::HfConfig;
use crate::error::Result;
use crate::generation::SamplingParams;

/// transformers' default `top_k` when sampling is on and the file sets none.
const DEFAULT_TOP_K: usize = 50;

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
