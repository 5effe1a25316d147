//! Checkpoints: everything needed to continue a run exactly — the trainable parameters, AdamW's
//! moments and step, and the loop's position (step, epoch, next micro-batch) and early-stopping
//! state. Batch order is a pure function of the seed and epoch (`batching.rs`), so the position
//! is the whole data-loader state.
//!
//! A checkpoint is written into `checkpoints/.step-N.tmp` and renamed to `checkpoints/step-N`
//! when complete, so a run killed mid-save leaves the previous checkpoint intact. Only the last
//! `keep` are kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::adamw::AdamW;
use crate::error::{Error, Result};
use crate::trainable::Param;

/// Where the training loop is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps taken.
    pub step: usize,
    pub epoch: usize,
    /// Index of the next micro-batch within the epoch.
    pub micro_batch: usize,
    pub best_valid_loss: Option<f64>,
    pub evals_without_improvement: usize,
    /// Steps skipped because the loss or gradient was not finite.
    pub skipped_steps: usize,
}

const PARAMS: &str = "params.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";

fn io(path: &Path, err: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), source: err }
}

/// Saves a checkpoint of `params`, `opt` and `state` under `run_dir/checkpoints`; returns its
/// directory.
pub fn save_checkpoint(run_dir: &Path, params: &[Param], opt: &AdamW, state: &TrainState, keep: usize) -> Result<PathBuf> {
    let root = run_dir.join("checkpoints");
    let name = format!("step-{:06}", state.step);
    let tmp = root.join(format!(".{name}.tmp"));
    let done = root.join(&name);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    let tensors: Vec<(String, Tensor)> = params.iter().map(|p| (p.name.clone(), p.var.as_tensor().clone())).collect();
    whet_models::save::write_safetensors(&tensors, &tmp.join(PARAMS))?;
    let mut moments = Vec::new();
    for (name, (m, v)) in &opt.moments {
        moments.push((format!("{name}/exp_avg"), m.clone()));
        moments.push((format!("{name}/exp_avg_sq"), v.clone()));
    }
    whet_models::save::write_safetensors(&moments, &tmp.join(OPTIMIZER))?;
    let json = serde_json::json!({"state": state, "optimizer_step": opt.step});
    std::fs::write(tmp.join(STATE), json.to_string()).map_err(|e| io(&tmp, e))?;
    if done.exists() {
        std::fs::remove_dir_all(&done).map_err(|e| io(&done, e))?;
    }
    std::fs::rename(&tmp, &done).map_err(|e| io(&done, e))?;
    let all = checkpoints(run_dir)?;
    for old in all.iter().take(all.len().saturating_sub(keep.max(1))) {
        std::fs::remove_dir_all(old).map_err(|e| io(old, e))?;
    }
    Ok(done)
}

/// Completed checkpoints of a run, oldest first.
pub fn checkpoints(run_dir: &Path) -> Result<Vec<PathBuf>> {
    let root = run_dir.join("checkpoints");
    if !root.is_dir() {
        return Ok(Vec::new());
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map_err(|e| io(&root, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("step-")))
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Restores `params` and `opt` from checkpoint `dir`; returns the loop position.
pub fn load_checkpoint(dir: &Path, params: &[Param], opt: &mut AdamW) -> Result<TrainState> {
    let load = |file: &str| {
        let path = dir.join(file);
        candle_core::safetensors::load(&path, &Device::Cpu).map_err(|e| Error::Checkpoint {
            path: path.clone(),
            message: format!("cannot be read ({e})"),
        })
    };
    let saved = load(PARAMS)?;
    for p in params {
        let t = saved.get(&p.name).ok_or_else(|| Error::Checkpoint {
            path: dir.join(PARAMS),
            message: format!("has no `{}`; was the checkpoint written by a run with another model or LoRA config?", p.name),
        })?;
        p.var.set(t).map_err(|e| Error::Checkpoint { path: dir.join(PARAMS), message: format!("`{}`: {e}", p.name) })?;
    }
    let mut moments: HashMap<String, Tensor> = load(OPTIMIZER)?;
    opt.moments.clear();
    for p in params {
        if let (Some(m), Some(v)) = (moments.remove(&format!("{}/exp_avg", p.name)), moments.remove(&format!("{}/exp_avg_sq", p.name))) {
            opt.moments.insert(p.name.clone(), (m, v));
        }
    }
    let path = dir.join(STATE);
    let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Checkpoint { path: path.clone(), message: e.to_string() })?;
    opt.step = json["optimizer_step"].as_u64().unwrap_or(0) as usize;
    serde_json::from_value(json["state"].clone()).map_err(|e| Error::Checkpoint { path, message: e.to_string() })
}
