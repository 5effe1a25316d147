//! Memory-mapped safetensors checkpoints: one `model.safetensors`, or shards listed in
//! `model.safetensors.index.json`, as `save_pretrained` writes them.
//!
//! Every tensor is looked up by its checkpoint key and checked against the shape the config
//! implies; keys the model never asked for are reported by [`Weights::finish`], so a checkpoint
//! that does not match its `config.json` fails loudly instead of loading half a model.
//!
//! [`Weights::random`] is the other source: freshly initialised weights for pretraining from
//! scratch, as transformers' `LlamaPreTrainedModel._init_weights` makes them (normal with std
//! `initializer_range` for projections and embeddings, ones for norms, zeros for biases), drawn
//! from a seeded generator in the order the model asks for them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use memmap2::Mmap;
use safetensors::SafeTensors;

use crate::error::{Error, Result};

const SINGLE_FILE: &str = "model.safetensors";

/// A load dtype by name, as flags and configs spell it: f32, bf16 or f16 (or the long names).
pub fn parse_dtype(s: &str) -> std::result::Result<DType, String> {
    match s {
        "f32" | "float32" => Ok(DType::F32),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        "f16" | "float16" => Ok(DType::F16),
        other => Err(format!("`{other}` is not a supported dtype (use f32, bf16 or f16)")),
    }
}
const INDEX_FILE: &str = "model.safetensors.index.json";

struct Shard {
    path: PathBuf,
    mmap: Mmap,
}

struct Entry {
    shard: usize,
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    /// Byte range of the tensor's data within the memory map.
    range: std::ops::Range<usize>,
}

/// The tensors of one checkpoint, converted on request to one dtype.
pub struct Weights {
    dir: PathBuf,
    shards: Vec<Shard>,
    entries: BTreeMap<String, Entry>,
    used: BTreeSet<String>,
    dtype: DType,
    device: Device,
    /// Set for [`Weights::random`]: the generator and the std of the normal init.
    random: Option<(rand::rngs::StdRng, f32)>,
}

/// Maps a file read-only.
#[allow(unsafe_code)]
fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // SAFETY: the map is read-only and private to this process. Like every mmap-based loader
    // (safetensors, candle, transformers), we rely on the file not being truncated while the
    // model is loaded; a modified file could change tensor values but not memory safety of the
    // reads below, which stay within ranges validated against the mapped length.
    unsafe { Mmap::map(&file) }.map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl Weights {
    /// Opens the checkpoint in `dir`; tensors are converted to `dtype` when read.
    pub fn open(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let files = shard_files(dir)?;
        let mut shards = Vec::with_capacity(files.len());
        let mut entries = BTreeMap::new();
        for path in files {
            let mmap = map_file(&path)?;
            let bad = |message: String| Error::Safetensors {
                path: path.clone(),
                message,
            };
            // `deserialize` validates the header and that every tensor's bytes lie in the file,
            // which is what catches a truncated download.
            let st = SafeTensors::deserialize(&mmap).map_err(|e| bad(e.to_string()))?;
            for (key, view) in st.tensors() {
                // The view borrows the map; keep its offset so the map can move into `shards`.
                let start = view.data().as_ptr() as usize - mmap.as_ptr() as usize;
                let range = start..start + view.data().len();
                entries.insert(
                    key,
                    Entry {
                        shard: shards.len(),
                        dtype: view.dtype(),
                        shape: view.shape().to_vec(),
                        range,
                    },
                );
            }
            shards.push(Shard { path, mmap });
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            shards,
            entries,
            used: BTreeSet::new(),
            dtype,
            device: device.clone(),
            random: None,
        })
    }

    /// Freshly initialised weights (see the module doc) for a model described by the
    /// `config.json` in `dir`.
    pub fn random(dir: &Path, initializer_range: f32, seed: u64, dtype: DType, device: &Device) -> Self {
        use rand::SeedableRng;
        Self {
            dir: dir.to_path_buf(),
            shards: Vec::new(),
            entries: BTreeMap::new(),
            used: BTreeSet::new(),
            dtype,
            device: device.clone(),
            random: Some((rand::rngs::StdRng::seed_from_u64(seed), initializer_range)),
        }
    }

    /// The dtype tensors are converted to.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether the checkpoint holds `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Reads tensor `key`, which must have `shape`, converted to the load dtype.
    pub fn get(&mut self, key: &str, shape: &[usize]) -> Result<Tensor> {
        self.get_as(key, shape, self.dtype)
    }

    /// Reads tensor `key`, which must have `shape`, converted to `dtype`.
    pub fn get_as(&mut self, key: &str, shape: &[usize], dtype: DType) -> Result<Tensor> {
        if let Some((rng, std)) = &mut self.random {
            use rand_distr::{Distribution, Normal};
            let n: usize = shape.iter().product();
            let values: Vec<f32> = if key.ends_with("norm.weight") {
                vec![1.0; n]
            } else if key.ends_with(".bias") {
                vec![0.0; n]
            } else {
                let normal = Normal::new(0.0f32, *std).map_err(|e| Error::Generation(format!("initializer_range: {e}")))?;
                (0..n).map(|_| normal.sample(rng)).collect()
            };
            return Ok(Tensor::from_vec(values, shape, &self.device)?.to_dtype(dtype)?);
        }
        let Some(entry) = self.entries.get(key) else {
            return Err(Error::MissingTensor {
                dir: self.dir.clone(),
                key: key.to_string(),
                files: self.file_names(),
            });
        };
        let shard = &self.shards[entry.shard];
        if entry.shape != shape {
            return Err(Error::ShapeMismatch {
                path: shard.path.clone(),
                key: key.to_string(),
                expected: shape.to_vec(),
                actual: entry.shape.clone(),
            });
        }
        let stored = match entry.dtype {
            safetensors::Dtype::F32 => DType::F32,
            safetensors::Dtype::BF16 => DType::BF16,
            safetensors::Dtype::F16 => DType::F16,
            other => {
                return Err(Error::UnsupportedDtype {
                    path: shard.path.clone(),
                    key: key.to_string(),
                    dtype: format!("{other:?}"),
                })
            }
        };
        let bytes = &shard.mmap[entry.range.clone()];
        let tensor = Tensor::from_raw_buffer(bytes, stored, shape, &self.device)?.to_dtype(dtype)?;
        self.used.insert(key.to_string());
        Ok(tensor)
    }

    /// Fails on any tensor the model did not read, except those `ignorable` accepts (buffers such
    /// as `rotary_emb.inv_freq` that older transformers saved).
    pub fn finish(self, model_type: &str, ignorable: impl Fn(&str) -> bool) -> Result<()> {
        for (key, entry) in &self.entries {
            if !self.used.contains(key) && !ignorable(key) {
                return Err(Error::UnexpectedTensor {
                    path: self.shards[entry.shard].path.clone(),
                    key: key.clone(),
                    model_type: model_type.to_string(),
                });
            }
        }
        Ok(())
    }

    fn file_names(&self) -> String {
        let names: Vec<String> = self
            .shards
            .iter()
            .filter_map(|s| s.path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.join(", ")
    }
}

/// The checkpoint files of `dir`: the shards named by the index, or the single file.
fn shard_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join(INDEX_FILE);
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|source| Error::Io {
            path: index.clone(),
            source,
        })?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Json {
            path: index.clone(),
            message: e.to_string(),
        })?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| Error::Config {
                path: index.clone(),
                key: "weight_map".into(),
                message: "is missing or not an object of tensor name to file name".into(),
            })?;
        let names: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
        let files: Vec<PathBuf> = names.into_iter().map(|n| dir.join(n)).collect();
        if let Some(missing) = files.iter().find(|f| !f.is_file()) {
            return Err(Error::Io {
                path: missing.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("shard listed in {INDEX_FILE} is missing"),
                ),
            });
        }
        return Ok(files);
    }
    let single = dir.join(SINGLE_FILE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    Err(Error::Io {
        path: single,
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no {SINGLE_FILE} or {INDEX_FILE} in the model directory"),
        ),
    })
}
