//! The error type of `whet-adapter`: each variant names the adapter file and key at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: `{key}` {message}")]
    Config {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("{path}: {message}")]
    Safetensors { path: PathBuf, message: String },
    #[error("{path}: tensor `{key}` targets `{module}`, which this {model_type} model does not have; was the adapter trained on another base model?")]
    UnknownModule {
        path: PathBuf,
        key: String,
        module: String,
        model_type: String,
    },
    #[error("{path}: tensor `{key}` has shape {actual:?} but `{module}` needs {expected:?}; the adapter was trained on a base model of another size")]
    ShapeMismatch {
        path: PathBuf,
        key: String,
        module: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("{path}: `{module}` has {found} but not {missing}")]
    IncompletePair {
        path: PathBuf,
        module: String,
        found: String,
        missing: String,
    },
    #[error("{path}: tensor `{key}` is not a LoRA weight whet understands ({reason})")]
    UnexpectedTensor {
        path: PathBuf,
        key: String,
        reason: String,
    },
    #[error("LoRA target_modules {targets:?} match no projection of this model (projections are named {names})")]
    NoTargets { targets: String, names: String },
    #[error(transparent)]
    Model(#[from] whet_models::Error),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
