//! `model_type: "mistral"` — after transformers' `models/mistral/modeling_mistral.py`.
//!
//! A Llama-shaped decoder without biases whose every layer attends to the last
//! `sliding_window` positions when the config sets one (a key is visible from a query when
//! `query_pos - key_pos < sliding_window`, as transformers' sliding-window mask defines it).
//! The KV cache keeps all positions and masks the old ones, so memory grows with the sequence
//! rather than being bounded by the window.

use crate::config::{DecoderConfig, HfConfig};
use crate::error::Result;

pub fn config(hf: &HfConfig) -> Result<DecoderConfig> {
    let mut cfg = hf.llama_family("mistral", 10_000.0)?;
    let window = hf.opt_usize("sliding_window")?;
    cfg.sliding_window = vec![window; cfg.num_hidden_layers];
    Ok(cfg)
}
