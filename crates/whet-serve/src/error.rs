//! The error type of `whet-serve` for everything before the first request: the config, loading
//! the model, its tokenizer and adapters, binding the address. Errors answered to clients are
//! [`crate::api_error::ApiError`], in OpenAI's format.

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
    /// A config file that TOML or serde refused (the message names line and key).
    #[error(transparent)]
    ConfigSyntax(Box<whet_data::Error>),
    #[error("loading the model: {0}")]
    Model(#[source] Box<whet_models::Error>),
    #[error("adapter `{name}`: {source}")]
    Adapter {
        name: String,
        #[source]
        source: Box<whet_adapter::Error>,
    },
    #[error("{what}: {source}")]
    Tokenizer {
        what: String,
        #[source]
        source: Box<whet_data::Error>,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the server stopped with an error: {0}")]
    Serve(#[source] std::io::Error),
    /// The feedback database (`feedback_db`) cannot be opened or written.
    #[error("feedback database {path}: {message}")]
    FeedbackDb { path: PathBuf, message: String },
    #[error("cannot set up the metrics registry: {0}")]
    Metrics(String),
    #[error("cannot start the engine thread: {0}")]
    EngineThread(#[source] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<whet_models::Error> for Error {
    fn from(e: whet_models::Error) -> Self {
        Error::Model(Box::new(e))
    }
}
