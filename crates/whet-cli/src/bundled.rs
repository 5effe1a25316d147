//! What `whet quickstart` needs, compiled into the binary so it runs anywhere with no network:
//! the bundled base model (`assets/base-model`, a small Llama that whet pretrained; see
//! `assets/README.md` for how it is regenerated), the sample support dataset
//! (`assets/sample-data`) and the quickstart's training configs (`configs/quickstart.toml`,
//! `configs/quickstart-dpo.toml`).

use std::path::Path;

use anyhow::{Context, Result};

/// Files of one bundled directory: name and contents.
pub struct BundledDir(pub &'static [(&'static str, &'static [u8])]);

macro_rules! asset {
    ($dir:literal, $name:literal) => {
        ($name, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/", $dir, "/", $name)))
    };
}

pub const BASE_MODEL: BundledDir = BundledDir(&[
    asset!("base-model", "config.json"),
    asset!("base-model", "generation_config.json"),
    asset!("base-model", "model.safetensors"),
    asset!("base-model", "tokenizer.json"),
    asset!("base-model", "tokenizer_config.json"),
]);

pub const SAMPLE_DATA: BundledDir = BundledDir(&[
    asset!("sample-data", "train.jsonl"),
    asset!("sample-data", "valid.jsonl"),
    asset!("sample-data", "test.jsonl"),
]);

/// The quickstart's LoRA run; its paths are replaced by the quickstart's own.
pub const QUICKSTART_CONFIG: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/quickstart.toml"));

/// The quickstart's DPO run on top of the SFT adapter; its paths are replaced likewise.
pub const QUICKSTART_DPO_CONFIG: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/quickstart-dpo.toml"));

impl BundledDir {
    /// Writes the files into `dir` (created).
    pub fn write_to(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, bytes) in self.0 {
            let path = dir.join(name);
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}
