//! The error type of `whet-models`: every variant names the file, key or field it is about.

use std::path::PathBuf;

/// Errors from loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not valid JSON: {message}")]
    Json { path: PathBuf, message: String },
    #[error("{path}: `{key}` {message}")]
    Config {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("{path}: unsupported model_type `{model_type}` (supported: {supported})")]
    UnsupportedModelType {
        path: PathBuf,
        model_type: String,
        supported: String,
    },
    #[error("{path}: not a readable safetensors file ({message}); it may be truncated or corrupt, download it again")]
    Safetensors { path: PathBuf, message: String },
    #[error("{dir}: tensor `{key}` is missing (looked in {files})")]
    MissingTensor {
        dir: PathBuf,
        key: String,
        files: String,
    },
    #[error("{path}: tensor `{key}` has shape {actual:?}, the config implies {expected:?}")]
    ShapeMismatch {
        path: PathBuf,
        key: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("{path}: tensor `{key}` is not used by this {model_type} model; the checkpoint does not match config.json")]
    UnexpectedTensor {
        path: PathBuf,
        key: String,
        model_type: String,
    },
    #[error("{path}: tensor `{key}` has dtype {dtype}, which whet cannot load (use F32, BF16 or F16)")]
    UnsupportedDtype {
        path: PathBuf,
        key: String,
        dtype: String,
    },
    #[error("{context}: sequence of {len} tokens exceeds {limit} ({what})")]
    SequenceTooLong {
        context: String,
        len: usize,
        limit: usize,
        what: String,
    },
    #[error("invalid generation setting: {0}")]
    Generation(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
