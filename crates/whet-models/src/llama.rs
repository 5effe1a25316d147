//! `model_type: "llama"` — Llama 2, 3, 3.x and SmolLM-style models, after transformers'
//! `models/llama/modeling_llama.py` and `configuration_llama.py`.
//!
//! Supports grouped- and multi-query attention, `head_dim`, `attention_bias`, `mlp_bias`,
//! tied embeddings and RoPE scaling of type `linear` and `llama3`. Not supported:
//! `pretraining_tp > 1` slicing (numerically equivalent up to rounding, so it is ignored) and
//! other RoPE types (dynamic, yarn, longrope), which are refused with an error naming them.

use crate::config::{DecoderConfig, HfConfig};
use crate::error::Result;

pub fn config(hf: &HfConfig) -> Result<DecoderConfig> {
    let mut cfg = hf.llama_family("llama", 10_000.0)?;
    let attention_bias = hf.bool_or("attention_bias", false)?;
    cfg.qkv_bias = attention_bias;
    cfg.o_bias = attention_bias;
    cfg.mlp_bias = hf.bool_or("mlp_bias", false)?;
    Ok(cfg)
}
