//! `adapter_config.json` as PEFT writes and reads it for LoRA (`peft/tuners/lora/config.py`).
//!
//! whet reads every field PEFT writes and honours the ones that change the computation: `r`,
//! `lora_alpha`, `use_rslora`, `target_modules` (a list of module-name suffixes, a regex, or
//! `all-linear`), `lora_dropout` (training only) and `rank_pattern` (through the saved tensors'
//! shapes). Options whet does not implement are refused by name rather than ignored: DoRA,
//! `alpha_pattern`, trainable biases, `modules_to_save`, `fan_in_fan_out`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

pub const CONFIG_FILE: &str = "adapter_config.json";

/// Which projections get an adapter.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetModules {
    /// Module-name suffixes (`q_proj`, `v_proj`).
    Names(Vec<String>),
    /// Every linear layer but the output head, PEFT's `all-linear`.
    AllLinear,
    /// A regular expression matched against the whole module path.
    Regex(String),
}

impl TargetModules {
    /// Whether the projection at `path` (`model.layers.0.self_attn.q_proj`) is targeted.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            TargetModules::AllLinear => path != "lm_head",
            TargetModules::Names(names) => names
                .iter()
                .any(|n| path == n || path.ends_with(&format!(".{n}"))),
            TargetModules::Regex(re) => regex::Regex::new(&format!("^(?:{re})$")).is_ok_and(|r| r.is_match(path)),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            TargetModules::AllLinear => Value::String("all-linear".into()),
            TargetModules::Regex(re) => Value::String(re.clone()),
            TargetModules::Names(names) => names.clone().into(),
        }
    }
}

/// The LoRA settings of an adapter.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    pub r: usize,
    pub lora_alpha: f64,
    pub lora_dropout: f64,
    pub use_rslora: bool,
    pub target_modules: TargetModules,
    /// Where the base model came from (a Hub id or a path), for people and PEFT.
    pub base_model_name_or_path: Option<String>,
}

impl LoraConfig {
    /// `alpha / r`, or `alpha / sqrt(r)` with rsLoRA, for a module of rank `r`.
    pub fn scale(&self, r: usize) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (r as f64).sqrt()
        } else {
            self.lora_alpha / r as f64
        }
    }

    /// Reads `dir/adapter_config.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let raw: RawConfig = serde_json::from_str(&text).map_err(|e| Error::Config {
            path: path.clone(),
            key: "(file)".into(),
            message: format!("is not a valid adapter config: {e}"),
        })?;
        let bad = |key: &str, message: String| Error::Config { path: path.clone(), key: key.into(), message };
        if let Some(t) = raw.peft_type.as_deref().filter(|t| *t != "LORA") {
            return Err(bad("peft_type", format!("is `{t}`; whet loads LoRA adapters only")));
        }
        if raw.use_dora {
            return Err(bad("use_dora", "is true; DoRA adapters are not supported yet".into()));
        }
        if raw.alpha_pattern.as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(bad("alpha_pattern", "is not empty; per-module alphas are not supported yet".into()));
        }
        if raw.bias.as_deref().is_some_and(|b| b != "none") {
            return Err(bad("bias", "trains biases; whet supports `none` only".into()));
        }
        if raw.modules_to_save.as_ref().is_some_and(|m| !m.is_null() && m.as_array().is_none_or(|a| !a.is_empty())) {
            return Err(bad("modules_to_save", "is set; fully trained extra modules are not supported yet".into()));
        }
        if raw.fan_in_fan_out {
            return Err(bad("fan_in_fan_out", "is true, which only GPT-2-style Conv1D layers use".into()));
        }
        if raw.r == 0 {
            return Err(bad("r", "must be at least 1".into()));
        }
        let target_modules = match raw.target_modules {
            Some(Value::String(s)) if s == "all-linear" => TargetModules::AllLinear,
            Some(Value::String(s)) => {
                regex::Regex::new(&s).map_err(|e| bad("target_modules", format!("is not a valid regular expression: {e}")))?;
                TargetModules::Regex(s)
            }
            Some(Value::Array(items)) => TargetModules::Names(
                items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string).ok_or_else(|| bad("target_modules", "must list module names as strings".into())))
                    .collect::<Result<_>>()?,
            ),
            _ => return Err(bad("target_modules", "is missing; list the module names or use \"all-linear\"".into())),
        };
        Ok(Self {
            r: raw.r,
            lora_alpha: raw.lora_alpha,
            lora_dropout: raw.lora_dropout,
            use_rslora: raw.use_rslora,
            target_modules,
            base_model_name_or_path: raw.base_model_name_or_path,
        })
    }

    /// The JSON PEFT writes for this config (so PEFT, vLLM and mistral.rs load it), with the
    /// actually targeted module names when known.
    pub fn to_json(&self, targeted: Option<&[String]>) -> Value {
        let target_modules = match targeted {
            Some(names) => names.to_vec().into(),
            None => self.target_modules.to_json(),
        };
        serde_json::json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": self.base_model_name_or_path,
            "r": self.r,
            "lora_alpha": self.lora_alpha,
            "lora_dropout": self.lora_dropout,
            "use_rslora": self.use_rslora,
            "target_modules": target_modules,
            "bias": "none",
            "fan_in_fan_out": false,
            "init_lora_weights": true,
            "inference_mode": true,
            "modules_to_save": null,
            "layers_to_transform": null,
            "layers_pattern": null,
            "rank_pattern": {},
            "alpha_pattern": {},
            "use_dora": false,
            "revision": null,
        })
    }
}

/// The fields of PEFT's file that matter; the rest are accepted and ignored.
#[derive(Deserialize, Serialize)]
struct RawConfig {
    peft_type: Option<String>,
    r: usize,
    lora_alpha: f64,
    #[serde(default)]
    lora_dropout: f64,
    #[serde(default)]
    use_rslora: bool,
    #[serde(default)]
    use_dora: bool,
    target_modules: Option<Value>,
    #[serde(default)]
    alpha_pattern: Option<serde_json::Map<String, Value>>,
    bias: Option<String>,
    modules_to_save: Option<Value>,
    #[serde(default)]
    fan_in_fan_out: bool,
    base_model_name_or_path: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_match_module_suffixes_only() {
        let t = TargetModules::Names(vec!["q_proj".into(), "v_proj".into()]);
        assert!(t.matches("model.layers.3.self_attn.q_proj"));
        assert!(!t.matches("model.layers.3.self_attn.k_proj"));
        assert!(!t.matches("model.layers.3.self_attn.xq_proj"));
        assert!(TargetModules::AllLinear.matches("model.layers.0.mlp.down_proj"));
        assert!(!TargetModules::AllLinear.matches("lm_head"));
        let re = TargetModules::Regex(r".*\.layers\.1\..*proj".into());
        assert!(re.matches("model.layers.1.mlp.up_proj") && !re.matches("model.layers.11.mlp.up_proj"));
    }

    #[test]
    fn rslora_scales_by_the_square_root_of_the_rank() {
        let mut c = LoraConfig {
            r: 16,
            lora_alpha: 32.0,
            lora_dropout: 0.0,
            use_rslora: false,
            target_modules: TargetModules::AllLinear,
            base_model_name_or_path: None,
        };
        assert_eq!(c.scale(16), 2.0);
        c.use_rslora = true;
        assert_eq!(c.scale(16), 8.0);
    }
}
