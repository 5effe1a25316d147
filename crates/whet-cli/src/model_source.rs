//! Where a model comes from: a local HF model directory, or a Hub id (`owner/name`) fetched with
//! `hf-hub` into the usual HF cache (`HF_HOME`, `HF_ENDPOINT` and `HF_HUB_OFFLINE` respected).
//! Also the shared flags for loading a model with its tokenizer and chat template.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use whet_data::{ChatTemplate, ModelTokenizer};
use whet_models::{CausalLm, GenerationConfig};

/// Flags every command that loads a model shares.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// A Hugging Face model directory, or a Hub id such as `HuggingFaceTB/SmolLM2-135M` (needs a
    /// network unless already in the HF cache).
    #[arg(long, value_name = "DIR|ID")]
    pub model: String,
    /// Weight and activation dtype: f32, bf16 or f16 (norms, softmax and logits stay f32).
    #[arg(long, default_value = "f32", value_parser = whet_models::parse_dtype)]
    pub dtype: DType,
    /// A LoRA adapter directory in PEFT's layout to apply to the model. Its tokenizer files and
    /// chat template, when present, are the ones used.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// Chat template to use instead of the model's: a built-in name (chatml, llama3) or a
    /// Jinja file.
    #[arg(long, value_name = "NAME|FILE")]
    pub chat_template: Option<String>,
}

/// A loaded model with its directory and tokenizer.
pub struct Loaded {
    pub dir: PathBuf,
    pub model: CausalLm,
    pub tokenizer: ModelTokenizer,
}

impl ModelArgs {
    /// A local model directory with an optional adapter, in f32 with its own chat template.
    pub fn local(model: &Path, adapter: Option<&Path>) -> Self {
        Self {
            model: model.display().to_string(),
            dtype: DType::F32,
            adapter: adapter.map(Path::to_path_buf),
            chat_template: None,
        }
    }

    pub fn load(&self) -> Result<Loaded> {
        let dir = resolve(&self.model)?;
        let mut model = CausalLm::load(&dir, self.dtype, &Device::Cpu)?;
        if let Some(adapter) = &self.adapter {
            whet_adapter::load_adapter(&mut model, adapter)?;
        }
        let mut tokenizer = ModelTokenizer::load_for(&dir, self.adapter.as_deref())?;
        if let Some(choice) = &self.chat_template {
            tokenizer.set_chat_template(ChatTemplate::from_choice(choice)?);
        }
        Ok(Loaded { dir, model, tokenizer })
    }
}

impl Loaded {
    /// End-of-sequence ids: all of generation_config.json's (`defaults`), else config.json's,
    /// else the tokenizer's `eos_token`.
    pub fn eos_token_ids(&self, defaults: &GenerationConfig) -> Vec<u32> {
        defaults.resolve_eos_token_ids(&self.model.config, self.tokenizer.eos_token_id())
    }
}

/// The local directory holding the model `spec` names.
pub fn resolve(spec: &str) -> Result<PathBuf> {
    let path = Path::new(spec);
    if path.is_dir() {
        if !path.join("config.json").is_file() {
            bail!("{spec}: not a Hugging Face model directory (no config.json)");
        }
        return Ok(path.to_path_buf());
    }
    if path.exists() {
        bail!("{spec}: not a directory; --model takes a model directory or a Hub id");
    }
    if !looks_like_hub_id(spec) {
        bail!("{spec}: no such directory (and not a Hub id of the form owner/name)");
    }
    download(spec)
}

fn looks_like_hub_id(spec: &str) -> bool {
    let parts: Vec<&str> = spec.split('/').collect();
    parts.len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

/// Fetches the files of a model directory from the Hub (or finds them in the cache) and returns
/// the cache snapshot directory that holds them.
fn download(id: &str) -> Result<PathBuf> {
    let offline = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let cache = hf_hub::Cache::from_env();
    let cached = cache.repo(hf_hub::Repo::model(id.to_string()));
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(true)
        .build()
        .context("setting up the Hugging Face Hub client")?;
    let repo = api.model(id.to_string());
    let get = |file: &str| -> Result<PathBuf> {
        if let Some(path) = cached.get(file) {
            return Ok(path);
        }
        if offline {
            bail!(
                "{id}: {file} is not in the Hugging Face cache ({}) and HF_HUB_OFFLINE is set; download the model elsewhere and pass its directory",
                cache.path().display()
            );
        }
        repo.download(file).map_err(|e| {
            anyhow::anyhow!(
                "{id}: could not download {file} from the Hugging Face Hub ({e}); without a network, copy the model directory to this machine and pass its path to --model"
            )
        })
    };
    let config = get("config.json")?;
    for optional in ["generation_config.json", "tokenizer_config.json", "chat_template.jinja"] {
        let _ = get(optional);
    }
    get("tokenizer.json")?;
    match get("model.safetensors.index.json") {
        Ok(index) => {
            let text = std::fs::read_to_string(&index)?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not valid JSON", index.display()))?;
            let mut shards: Vec<&str> = json["weight_map"]
                .as_object()
                .map(|m| m.values().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            shards.sort_unstable();
            shards.dedup();
            for shard in shards {
                get(shard)?;
            }
        }
        Err(_) => {
            get("model.safetensors")?;
        }
    }
    Ok(config
        .parent()
        .context("the cached config.json has no parent directory")?
        .to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_are_owner_slash_name() {
        assert!(looks_like_hub_id("HuggingFaceTB/SmolLM2-135M"));
        assert!(looks_like_hub_id("Qwen/Qwen2.5-0.5B-Instruct"));
        assert!(!looks_like_hub_id("./models/x"));
        assert!(!looks_like_hub_id("a/b/c"));
        assert!(!looks_like_hub_id("justaname"));
    }
}
