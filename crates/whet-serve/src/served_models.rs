//! The models a server answers for: the base model under its name, and each configured adapter
//! under its own, with the tokenizer and chat template each one uses (an adapter directory's own
//! tokenizer files when training saved them there, else the base model's) and the generation
//! defaults of the base model's `generation_config.json`. Each adapter has a version, a short
//! hash of its weights file, that responses and `/v1/models` report.
//!
//! Adapters are added, replaced and removed while the server runs (`adapter_api`): the list is
//! behind a lock and each entry is an `Arc`, so a request takes the entry (tokenizer, weights,
//! version) it starts with and keeps it to its end whatever happens to the name meanwhile; the
//! engine gets the weights with each job, not by index.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use candle_core::Device;
use sha2::{Digest, Sha256};
use whet_data::ModelTokenizer;
use whet_models::{CausalLm, GenerationConfig};

use crate::config::ServeConfig;
use crate::error::{Error, Result};
use crate::lora_set::LoraSet;

pub struct ServedModel {
    pub name: String,
    /// The adapter's weights; `None` for the base model.
    pub lora: Option<Arc<LoraSet>>,
    /// The base model directory, or the adapter directory.
    pub dir: PathBuf,
    pub tokenizer: Arc<ModelTokenizer>,
    pub eos_token_ids: Vec<u32>,
    /// For an adapter: the first 12 hex digits of the SHA-256 of its
    /// `adapter_model.safetensors`, so a response says which weights answered it.
    pub version: Option<String>,
}

pub struct ServedModels {
    /// The base model first, then the adapters (in the order they were added).
    models: RwLock<Vec<Arc<ServedModel>>>,
    /// The base model without adapters (its tensors shared with the engine's copy), against
    /// which adapters added at run time are loaded and checked.
    base: CausalLm,
    base_dir: PathBuf,
    pub defaults: GenerationConfig,
    /// Positions the model supports (`max_position_embeddings`).
    pub context_length: usize,
    pub vocab_size: usize,
    /// Unix time the server loaded them (OpenAI's `created`).
    pub created: u64,
}

/// What loading produces: the served models and the model for the engine.
pub struct Loaded {
    pub served: ServedModels,
    pub model: CausalLm,
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
        let mut models = vec![Arc::new(ServedModel {
            name: base_name,
            lora: None,
            dir: config.model.clone(),
            eos_token_ids: defaults.resolve_eos_token_ids(&model.config, base_tok.eos_token_id()),
            tokenizer: Arc::new(base_tok),
            version: None,
        })];
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut served = ServedModels {
            models: RwLock::new(Vec::new()),
            base: model.clone(),
            base_dir: config.model.clone(),
            defaults,
            context_length: model.config.max_position_embeddings,
            vocab_size: model.config.vocab_size,
            created,
        };
        for (name, dir) in &config.adapters {
            models.push(Arc::new(served.load_adapter(name, dir)?));
        }
        served.models = RwLock::new(models);
        Ok(Loaded { served, model })
    }

    /// Loads the PEFT adapter in `dir` as `name`, checked against the base model, with its
    /// tokenizer and version. Slow (reads the weights): not on the async runtime.
    pub fn load_adapter(&self, name: &str, dir: &Path) -> Result<ServedModel> {
        let set = LoraSet::load(&self.base, name, dir)?;
        let tok = ModelTokenizer::load_for(&self.base_dir, Some(dir)).map_err(|source| {
            Error::Tokenizer {
                what: format!("the tokenizer of `{name}`"),
                source: Box::new(source),
            }
        })?;
        Ok(ServedModel {
            name: name.to_string(),
            lora: Some(Arc::new(set)),
            dir: dir.to_path_buf(),
            eos_token_ids: self
                .defaults
                .resolve_eos_token_ids(&self.base.config, tok.eos_token_id()),
            tokenizer: Arc::new(tok),
            version: Some(adapter_version(dir)?),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<ServedModel>>> {
        self.models.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<ServedModel>>> {
        self.models.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an adapter, or replaces the one of the same name; returns the one replaced.
    /// Requests already running keep the entry they started with.
    pub fn insert(&self, model: ServedModel) -> Option<Arc<ServedModel>> {
        let mut models = self.write();
        let new = Arc::new(model);
        match models.iter_mut().find(|m| m.name == new.name) {
            Some(slot) => Some(std::mem::replace(slot, new)),
            None => {
                models.push(new);
                None
            }
        }
    }

    /// Removes adapter `name` (never the base model); returns it.
    pub fn remove(&self, name: &str) -> Option<Arc<ServedModel>> {
        let mut models = self.write();
        let at = models
            .iter()
            .position(|m| m.name == name && m.lora.is_some())?;
        Some(models.remove(at))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn get(&self, name: &str) -> Option<Arc<ServedModel>> {
        self.read().iter().find(|m| m.name == name).cloned()
    }

    /// Every served model now, base model first.
    pub fn all(&self) -> Vec<Arc<ServedModel>> {
        self.read().clone()
    }

    pub fn base_name(&self) -> String {
        self.read()
            .first()
            .map(|m| m.name.clone())
            .unwrap_or_default()
    }

    /// The names, for error messages.
    pub fn names(&self) -> String {
        self.read()
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
