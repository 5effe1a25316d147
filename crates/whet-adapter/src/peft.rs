//! Adapter directories in PEFT's layout: `adapter_config.json` and `adapter_model.safetensors`
//! with PEFT's key names, `base_model.model.<module path>.lora_A.weight` (shape `(r, in)`) and
//! `...lora_B.weight` (shape `(out, r)`), which PEFT, vLLM and mistral.rs load.
//!
//! Loading attaches one adapter to the modules its tensors name and checks every name and shape
//! against the model, so an adapter trained on another base fails with the key at fault.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use whet_models::{CausalLm, Lora};

use crate::config::{LoraConfig, CONFIG_FILE};
use crate::error::{Error, Result};

pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";
const KEY_PREFIX: &str = "base_model.model.";

/// Reads the adapter in `dir` and attaches it to `model`'s projections. Returns its config.
pub fn load_adapter(model: &mut CausalLm, dir: &Path) -> Result<LoraConfig> {
    let config = LoraConfig::read(dir)?;
    let path = dir.join(WEIGHTS_FILE);
    if !path.is_file() {
        let message = if dir.join("adapter_model.bin").is_file() {
            format!("missing; only adapter_model.bin is there — re-save the adapter with PEFT's safe_serialization=True to get {WEIGHTS_FILE}")
        } else {
            "missing".to_string()
        };
        return Err(Error::Safetensors { path, message });
    }
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu).map_err(|e| Error::Safetensors {
        path: path.clone(),
        message: format!("not a readable safetensors file ({e}); it may be truncated or corrupt"),
    })?;

    // module path -> (A, B), keyed by the tensors' own names.
    let mut pairs: BTreeMap<String, (Option<(String, Tensor)>, Option<(String, Tensor)>)> = BTreeMap::new();
    for (key, tensor) in tensors {
        let unexpected = |reason: &str| Error::UnexpectedTensor {
            path: path.clone(),
            key: key.clone(),
            reason: reason.to_string(),
        };
        let Some(rest) = key.strip_prefix(KEY_PREFIX) else {
            return Err(unexpected("PEFT keys start with `base_model.model.`"));
        };
        // In-memory state dicts carry the adapter name (`lora_A.default.weight`); files do not.
        let rest = rest.replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B.");
        if let Some(module) = rest.strip_suffix(".lora_A.weight") {
            pairs.entry(module.to_string()).or_default().0 = Some((key.clone(), tensor));
        } else if let Some(module) = rest.strip_suffix(".lora_B.weight") {
            pairs.entry(module.to_string()).or_default().1 = Some((key.clone(), tensor));
        } else {
            return Err(unexpected("only lora_A and lora_B weights of linear layers are supported"));
        }
    }
    if pairs.is_empty() {
        return Err(Error::Safetensors {
            path,
            message: "holds no LoRA weights".into(),
        });
    }

    let model_type = model.config.model_type.clone();
    let mut projections: BTreeMap<String, &mut whet_models::Proj> = model.projections_mut().into_iter().collect();
    for (module, (a, b)) in pairs {
        let incomplete = |found: &str, missing: &str| Error::IncompletePair {
            path: path.clone(),
            module: module.clone(),
            found: found.into(),
            missing: missing.into(),
        };
        let (a_key, a) = a.ok_or_else(|| incomplete("lora_B", "lora_A"))?;
        let (b_key, b) = b.ok_or_else(|| incomplete("lora_A", "lora_B"))?;
        let Some(proj) = projections.get_mut(&module) else {
            return Err(Error::UnknownModule {
                path: path.clone(),
                key: a_key,
                module,
                model_type,
            });
        };
        let r = a.dims().first().copied().unwrap_or(0);
        let check = |key: &str, t: &Tensor, expected: Vec<usize>| {
            if t.dims() == expected.as_slice() {
                Ok(())
            } else {
                Err(Error::ShapeMismatch {
                    path: path.clone(),
                    key: key.to_string(),
                    module: module.clone(),
                    expected,
                    actual: t.dims().to_vec(),
                })
            }
        };
        check(&a_key, &a, vec![r, proj.in_dim()])?;
        check(&b_key, &b, vec![proj.out_dim(), r])?;
        proj.lora = Some(Lora {
            a: a.to_dtype(DType::F32)?,
            b: b.to_dtype(DType::F32)?,
            scale: config.scale(r),
            dropout: None,
        });
    }
    Ok(config)
}

/// Writes the adapters attached to `model` into `dir` in PEFT's layout (f32 tensors).
pub fn save_adapter(model: &CausalLm, config: &LoraConfig, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut tensors = Vec::new();
    let mut targeted = Vec::new();
    for (module, proj) in model.projections() {
        if let Some(lora) = &proj.lora {
            tensors.push((format!("{KEY_PREFIX}{module}.lora_A.weight"), lora.a.clone()));
            tensors.push((format!("{KEY_PREFIX}{module}.lora_B.weight"), lora.b.clone()));
            let name = module.rsplit('.').next().unwrap_or(&module).to_string();
            if !targeted.contains(&name) {
                targeted.push(name);
            }
        }
    }
    whet_models::save::write_safetensors(&tensors, &dir.join(WEIGHTS_FILE))?;
    let json = serde_json::to_string_pretty(&config.to_json(Some(&targeted))).unwrap_or_default();
    whet_models::save::write_atomic(&dir.join(CONFIG_FILE), json.as_bytes())?;
    Ok(())
}

/// Folds every attached adapter into its base weight.
pub fn merge_adapters(model: &mut CausalLm) -> Result<()> {
    for (_, proj) in model.projections_mut() {
        proj.merge()?;
    }
    Ok(())
}
