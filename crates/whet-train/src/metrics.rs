//! The run's metrics: one JSON object per line in `metrics.jsonl` (training steps and
//! evaluations), flushed as written so a killed run keeps what it logged, and the process's peak
//! memory.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

pub struct MetricsLog {
    file: File,
    path: std::path::PathBuf,
}

impl MetricsLog {
    /// Opens `path` for appending (a resumed run continues the same file).
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Ok(Self { file, path: path.to_path_buf() })
    }

    pub fn write(&mut self, record: &serde_json::Value) -> Result<()> {
        writeln!(self.file, "{record}")
            .and_then(|_| self.file.flush())
            .map_err(|source| Error::Io { path: self.path.clone(), source })
    }
}

