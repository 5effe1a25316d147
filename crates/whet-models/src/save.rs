//! Writes a model as an HF model directory that transformers loads: `model.safetensors` (or
//! shards with `model.safetensors.index.json` past 5 GB, `save_pretrained`'s default split) in the
//! checkpoint's own dtype, next to the source directory's config, generation config, tokenizer
//! files and chat template.
//!
//! Files are written under a temporary name and renamed into place, so an interrupted save never
//! leaves a truncated checkpoint where a good one was.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Tensor};

use crate::decoder::CausalLm;
use crate::error::{Error, Result};

/// Files copied verbatim from the source model directory when present.
const COPIED_FILES: &[&str] = &[
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
];

const SHARD_BYTES: usize = 5 << 30;

/// Saves `model` into `out` in `dtype`, with the non-weight files of `source_dir`.
pub fn save_model_dir(model: &CausalLm, source_dir: &Path, out: &Path, dtype: DType) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|source| io(out, source))?;
    let weights: Vec<(String, Tensor)> = model
        .named_weights()?
        .into_iter()
        .map(|(k, t)| Ok((k, t.to_dtype(dtype)?)))
        .collect::<Result<_>>()?;
    let total: usize = weights.iter().map(|(_, t)| t.elem_count() * dtype.size_in_bytes()).sum();
    if total <= SHARD_BYTES {
        write_safetensors(&weights, &out.join("model.safetensors"))?;
    } else {
        let mut shards: Vec<Vec<(String, Tensor)>> = vec![Vec::new()];
        let mut size = 0;
        for (k, t) in weights {
            let bytes = t.elem_count() * dtype.size_in_bytes();
            if size + bytes > SHARD_BYTES && !shards[shards.len() - 1].is_empty() {
                shards.push(Vec::new());
                size = 0;
            }
            size += bytes;
            let last = shards.len() - 1;
            shards[last].push((k, t));
        }
        let n = shards.len();
        let mut weight_map = serde_json::Map::new();
        for (i, shard) in shards.iter().enumerate() {
            let name = format!("model-{:05}-of-{n:05}.safetensors", i + 1);
            for (k, _) in shard {
                weight_map.insert(k.clone(), name.clone().into());
            }
            write_safetensors(shard, &out.join(&name))?;
        }
        let index = serde_json::json!({"metadata": {"total_size": total}, "weight_map": weight_map});
        write_atomic(&out.join("model.safetensors.index.json"), index.to_string().as_bytes())?;
    }
    for name in COPIED_FILES {
        let src = source_dir.join(name);
        if src.is_file() {
            let bytes = std::fs::read(&src).map_err(|source| io(&src, source))?;
            write_atomic(&out.join(name), &bytes)?;
        }
    }
    Ok(())
}

/// The dtype a checkpoint's `config.json` says its weights are stored in (`dtype` in
/// transformers 5.x, `torch_dtype` before), f32 when unstated.
pub fn stored_dtype(model_dir: &Path) -> Result<DType> {
    let cfg = crate::config::HfConfig::read(&model_dir.join("config.json"))?;
    let name = cfg.opt_str("dtype")?.or(cfg.opt_str("torch_dtype")?).unwrap_or("float32");
    match name {
        "float32" => Ok(DType::F32),
        "bfloat16" => Ok(DType::BF16),
        "float16" => Ok(DType::F16),
        other => Err(cfg.error("dtype", format!("`{other}` is not a dtype whet writes (float32, bfloat16, float16)"))),
    }
}

/// Writes tensors to a safetensors file atomically.
pub fn write_safetensors(tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    let map: HashMap<String, Tensor> = tensors.iter().cloned().collect();
    let tmp = tmp_path(path);
    candle_core::safetensors::save(&map, &tmp)?;
    std::fs::rename(&tmp, path).map_err(|source| io(path, source))
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes).map_err(|source| io(&tmp, source))?;
    std::fs::rename(&tmp, path).map_err(|source| io(path, source))
}

fn tmp_path(path: &Path) -> std::path::PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
