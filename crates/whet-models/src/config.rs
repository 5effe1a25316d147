//! The resolved shape of a decoder-only model, read from an HF `config.json`.
//!
//! Each architecture file (`llama.rs`, `mistral.rs`, `qwen2.rs`) turns its HF config into a
//! [`DecoderConfig`]; this file holds what they share: typed field access whose errors name the
//! key, and RoPE settings as both transformers 4.x (`rope_theta` + `rope_scaling`) and 5.x
//! (`rope_parameters`) write them. Unknown keys are ignored, as transformers ignores them; known
//! keys with values whet cannot honour are errors.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};

/// How rotary position frequencies are rescaled for long contexts.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    None,
    /// Position interpolation: every frequency divided by `factor`.
    Linear { factor: f64 },
    /// Llama 3.1's band-wise rescaling.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}

/// Everything the shared decoder needs to build and run a model.
#[derive(Debug, Clone)]
pub struct DecoderConfig {
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    /// Biases on q/k/v projections (Qwen2; Llama with `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on the output projection (Llama with `attention_bias`).
    pub o_bias: bool,
    pub mlp_bias: bool,
    /// Per layer: `Some(w)` if that layer attends only to the last `w` positions.
    pub sliding_window: Vec<Option<usize>>,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
}

impl DecoderConfig {
    /// Parameter count (embeddings counted once when tied).
    pub fn num_parameters(&self) -> usize {
        let (h, i, d) = (self.hidden_size, self.intermediate_size, self.head_dim);
        let q = self.num_attention_heads * d;
        let kv = self.num_key_value_heads * d;
        let attn = h * q + 2 * h * kv + q * h
            + if self.qkv_bias { q + 2 * kv } else { 0 }
            + if self.o_bias { h } else { 0 };
        let mlp = 3 * h * i + if self.mlp_bias { 2 * i + h } else { 0 };
        let layer = attn + mlp + 2 * h;
        let embed = self.vocab_size * h;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        embed + head + h + self.num_hidden_layers * layer
    }
}

/// Typed access to `config.json` whose errors name the file and key.
pub struct HfConfig {
    pub path: PathBuf,
    pub json: Value,
}

impl HfConfig {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let json: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if !json.is_object() {
            return Err(Error::Json {
                path: path.to_path_buf(),
                message: "expected a JSON object".into(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            json,
        })
    }

    pub fn error(&self, key: &str, message: impl Into<String>) -> Error {
        Error::Config {
            path: self.path.clone(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// The value of `key`, treating JSON `null` as absent.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.json.get(key).filter(|v| !v.is_null())
    }

    pub fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?
            .ok_or_else(|| self.error(key, "is missing; it is required for this model type"))
    }

    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|&n| n > 0)
                .map(|n| Some(n as usize))
                .ok_or_else(|| self.error(key, format!("must be a positive integer, got {v}"))),
        }
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.error(key, format!("must be a number, got {v}"))),
        }
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.error(key, format!("must be true or false, got {v}"))),
        }
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.error(key, format!("must be a string, got {v}"))),
        }
    }

    /// A token id field that may be an integer or a list of integers (`eos_token_id`).
    pub fn token_ids(&self, key: &str) -> Result<Vec<u32>> {
        let bad = || self.error(key, "must be a token id or a list of token ids");
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_u64().map(|n| n as u32).ok_or_else(bad))
                .collect(),
            Some(v) => v.as_u64().map(|n| vec![n as u32]).ok_or_else(bad),
        }
    }

    /// Fails unless `hidden_act` is SiLU, the only activation these architectures use.
    pub fn require_silu(&self) -> Result<()> {
        let act = self
            .opt_str("hidden_act")?
            .or(self.opt_str("hidden_activation")?)
            .unwrap_or("silu");
        if act == "silu" || act == "swish" {
            Ok(())
        } else {
            Err(self.error("hidden_act", format!("`{act}` is not supported (supported: silu)")))
        }
    }

    /// `rope_theta` and the scaling, from `rope_parameters` (transformers 5.x) or from
    /// `rope_theta` + `rope_scaling` (4.x).
    pub fn rope(&self, default_theta: f64) -> Result<(f64, RopeScaling)> {
        if let Some(params) = self.get("rope_parameters") {
            let obj = params.as_object().ok_or_else(|| {
                self.error("rope_parameters", "must be an object such as {\"rope_type\": \"default\", \"rope_theta\": 10000.0}")
            })?;
            let theta = match obj.get("rope_theta") {
                Some(v) => v.as_f64().ok_or_else(|| {
                    self.error("rope_parameters.rope_theta", format!("must be a number, got {v}"))
                })?,
                None => self.opt_f64("rope_theta")?.unwrap_or(default_theta),
            };
            return Ok((theta, self.rope_scaling("rope_parameters", params)?));
        }
        let theta = self.opt_f64("rope_theta")?.unwrap_or(default_theta);
        let scaling = match self.get("rope_scaling") {
            None => RopeScaling::None,
            Some(v) => self.rope_scaling("rope_scaling", v)?,
        };
        Ok((theta, scaling))
    }

    fn rope_scaling(&self, key: &str, v: &Value) -> Result<RopeScaling> {
        let num = |field: &str| -> Result<f64> {
            v.get(field).and_then(Value::as_f64).ok_or_else(|| {
                self.error(&format!("{key}.{field}"), "is missing or not a number")
            })
        };
        // transformers 4.x wrote `type`, later versions `rope_type`.
        let kind = v
            .get("rope_type")
            .or_else(|| v.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        match kind {
            "default" => Ok(RopeScaling::None),
            "linear" => Ok(RopeScaling::Linear {
                factor: num("factor")?,
            }),
            "llama3" => Ok(RopeScaling::Llama3 {
                factor: num("factor")?,
                low_freq_factor: num("low_freq_factor")?,
                high_freq_factor: num("high_freq_factor")?,
                original_max_position_embeddings: num("original_max_position_embeddings")?,
            }),
            other => Err(self.error(
                &format!("{key}.rope_type"),
                format!("`{other}` is not supported (supported: default, linear, llama3)"),
            )),
        }
    }

    /// The fields every Llama-family config shares, with per-architecture choices left at
    /// their Llama defaults for the caller to adjust.
    pub fn llama_family(&self, model_type: &str, default_theta: f64) -> Result<DecoderConfig> {
        self.require_silu()?;
        let hidden_size = self.usize("hidden_size")?;
        let num_attention_heads = self.usize("num_attention_heads")?;
        let num_key_value_heads = self
            .opt_usize("num_key_value_heads")?
            .unwrap_or(num_attention_heads);
        if num_attention_heads % num_key_value_heads != 0 {
            return Err(self.error(
                "num_key_value_heads",
                format!("({num_key_value_heads}) must divide num_attention_heads ({num_attention_heads})"),
            ));
        }
        let head_dim = match self.opt_usize("head_dim")? {
            Some(d) => d,
            None if hidden_size % num_attention_heads == 0 => hidden_size / num_attention_heads,
            None => {
                return Err(self.error(
                    "hidden_size",
                    format!("({hidden_size}) is not divisible by num_attention_heads ({num_attention_heads}); set head_dim"),
                ))
            }
        };
        if head_dim % 2 != 0 {
            return Err(self.error("head_dim", format!("({head_dim}) must be even for rotary embeddings")));
        }
        let (rope_theta, rope_scaling) = self.rope(default_theta)?;
        let num_hidden_layers = self.usize("num_hidden_layers")?;
        Ok(DecoderConfig {
            model_type: model_type.to_string(),
            vocab_size: self.usize("vocab_size")?,
            hidden_size,
            intermediate_size: self.usize("intermediate_size")?,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps: self.opt_f64("rms_norm_eps")?.unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            max_position_embeddings: self.opt_usize("max_position_embeddings")?.unwrap_or(2048),
            tie_word_embeddings: self.bool_or("tie_word_embeddings", false)?,
            qkv_bias: false,
            o_bias: false,
            mlp_bias: false,
            sliding_window: vec![None; num_hidden_layers],
            bos_token_id: self.token_ids("bos_token_id")?.first().copied(),
            eos_token_ids: self.token_ids("eos_token_id")?,
        })
    }
}
