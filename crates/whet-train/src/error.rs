//! The error type of `whet-train`.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Config { path: std::path::PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Record { path: std::path::PathBuf, line: u64, message: String },
    #[error(transparent)]
    Data(whet_data::Error),
    #[error("{path}: {message}")]
    Checkpoint { path: std::path::PathBuf, message: String },
    #[error("{path}: {message}")]
    RunDir { path: std::path::PathBuf, message: String },
    #[error("optimizer: {0}")]
    Optimizer(String),
    #[error("drawing the loss curve: {0}")]
    Plot(String),
    #[error("batch: {0}")]
    Batch(String),
    #[error(transparent)]
    Model(#[from] whet_models::Error),
    #[error(transparent)]
    Adapter(#[from] whet_adapter::Error),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
