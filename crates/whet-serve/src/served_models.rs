//! The models a server answers for: the base model under its name, and each configured adapter
//! under its own, with the tokenizer and chat template each one uses (an adapter directory's own
//! tokenizer files when training saved them there, else the base model's) and the generation
//! defaults of the base model's `generation_config.json`. Each adapter has a version, a short
//! hash of its weights file, that responses and `/v1/models` report.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::Device;
use sha2::{Digest, Sha256};
use whet_data::ModelTokenizer;
use whet_models::{CausalLm, GenerationConfig};

use crate::config::ServeConfig;
use crate::error::{Error, Result};
use crate::lora_set::LoraSet;

pub struct ServedModel {
    pub name: String,
    /// Index of the adapter in the engine; `None` for the base model.
    pub adapter: Option<usize>,
    /// The base model directory, or the adapter directory.
    pub dir: PathBuf,
    pub tokenizer: Arc<ModelTokenizer>,
    pub eos_token_ids: Vec<u32>,
    /// For an adapter: the first 12 hex digits of the SHA-256 of its
    /// `adapter_model.safetensors`, so a response says which weights answered it.
    pub version: Option<String>,
}

pub struct ServedModels {
    /// The base model first, then the adapters by name.
    pub models: Vec<ServedModel>,
    pub defaults: GenerationConfig,
    /// Positions the model supports (`max_position_embeddings`).
    pub context_length: usize,
    pub vocab_size: usize,
    /// Unix time the server loaded them (OpenAI's `created`).
    pub created: u64,
}

/// What loading produces: the names, the model for the engine and the adapters' weights (in
/// the order of the served models' `adapter` indices).
pub struct Loaded {
    pub served: ServedModels,
    pub model: CausalLm,
    pub adapters: Vec<LoraSet>,
}

impl ServedModels {
    /// Loads the base model, its tokenizer and every adapter of `config`.
    pub fn load(config: &ServeConfig) -> Result<Loaded> {
        let model = CausalLm::load(&config.model, config.dtype(), &Device::Cpu)?;
        let defaults = GenerationConfig::read(&config.model)?;
        let tokenizer_for = |name: &str, adapter: Option<&std::path::Path>| {
            ModelTokenizer::load_for(&config.model, adapter).map_err(|source| Error::Tokenizer {
                what: format!("the tokenizer of `{name}`"),
                source: Box::new(source),
            })
        };
        let base_name = config.base_model_name();
        let base_tok = tokenizer_for(&base_name, None)?;
        let mut models = vec![ServedModel {
            name: base_name,
            adapter: None,
            dir: config.model.clone(),
            eos_token_ids: defaults.resolve_eos_token_ids(&model.config, base_tok.eos_token_id()),
            tokenizer: Arc::new(base_tok),
            version: None,
        }];
        let mut adapters = Vec::new();
        for (name, dir) in &config.adapters {
            let set = LoraSet::load(&model, name, dir)?;
            let tok = tokenizer_for(name, Some(dir))?;
            models.push(ServedModel {
                name: name.clone(),
                adapter: Some(adapters.len()),
                dir: dir.clone(),
                eos_token_ids: defaults.resolve_eos_token_ids(&model.config, tok.eos_token_id()),
                tokenizer: Arc::new(tok),
                version: Some(adapter_version(dir)?),
            });
            adapters.push(set);
        }
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let served = ServedModels {
            models,
            defaults,
            context_length: model.config.max_position_embeddings,
            vocab_size: model.config.vocab_size,
            created,
        };
        Ok(Loaded {
            served,
            model,
            adapters,
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn get(&self, name: &str) -> Option<&ServedModel> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The names, for error messages.
    pub fn names(&self) -> String {
        self.models
            .iter()
            .map(|m| format!("`{}`", m.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The version of the adapter in `dir`: the first 12 hex digits of the SHA-256 of its weights
/// file (what git shows of a commit: short, and a collision between two adapters of one server
/// is out of reach).
pub fn adapter_version(dir: &Path) -> Result<String> {
    let path = dir.join("adapter_model.safetensors");
    let mut file = std::fs::File::open(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|source| Error::Io { path, source })?;
    let digest = hasher.finalize();
    Ok(digest.iter().take(6).map(|b| format!("{b:02x}")).collect())
}
