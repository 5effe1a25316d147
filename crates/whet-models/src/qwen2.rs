//! `model_type: "qwen2"` — Qwen2 and Qwen2.5, after transformers' `models/qwen2/modeling_qwen2.py`.
//!
//! A Llama-shaped decoder with biases on the q, k and v projections (not on o or the MLP).
//! Sliding-window attention applies only when `use_sliding_window` is true, to the layers
//! `layer_types` marks `sliding_attention` (or, in configs without `layer_types`, the layers from
//! `max_window_layers` on), as `configuration_qwen2.py` decides.

use crate::config::{DecoderConfig, HfConfig};
use crate::error::Result;

pub fn config(hf: &HfConfig) -> Result<DecoderConfig> {
    let mut cfg = hf.llama_family("qwen2", 10_000.0)?;
    cfg.qkv_bias = true;
    let window = if hf.bool_or("use_sliding_window", false)? {
        hf.opt_usize("sliding_window")?
    } else {
        None
    };
    if let Some(window) = window {
        let n = cfg.num_hidden_layers;
        cfg.sliding_window = match hf.get("layer_types").and_then(|v| v.as_array()) {
            Some(types) if types.len() == n => types
                .iter()
                .map(|t| (t.as_str() == Some("sliding_attention")).then_some(window))
                .collect(),
            Some(types) => {
                return Err(hf.error(
                    "layer_types",
                    format!("has {} entries but num_hidden_layers is {n}", types.len()),
                ))
            }
            None => {
                let first = hf.opt_usize("max_window_layers")?.unwrap_or(n);
                (0..n).map(|i| (i >= first).then_some(window)).collect()
            }
        };
    }
    Ok(cfg)
}
