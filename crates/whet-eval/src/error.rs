//! The error type of `whet-eval`.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] whet_models::Error),
    #[error(transparent)]
    Data(#[from] whet_data::Error),
    /// Boxed: the adapter error is large and rare.
    #[error(transparent)]
    Adapter(Box<whet_adapter::Error>),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{url}: {message}")]
    Endpoint { url: String, message: String },
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Malformed { path: PathBuf, line: usize, message: String },
    #[error("{path}: no records; an eval set needs at least one")]
    EmptySet { path: PathBuf },
    #[error("{path}: already exists and is not empty; give a new output_dir (or --out) so that no earlier report is overwritten")]
    OutputExists { path: PathBuf },
    #[error("variants `{first}` and `{other}` have different chat templates ({first_origin} and {other_origin}), so their prompts would differ; set `chat_template` at the top of the eval config to render every variant's prompts the same way")]
    ChatTemplateMismatch { first: String, first_origin: String, other: String, other_origin: String },
    #[error("{metric}: {predictions} predictions but {references} reference sets; give one set of references per prediction")]
    LengthMismatch { metric: &'static str, predictions: usize, references: usize },
    #[error("{metric}: prediction {index} has no reference; give at least one (an empty string counts as one)")]
    NoReferences { metric: &'static str, index: usize },
    #[error("{metric}: {option} is {value}; it must be at least {min}")]
    OptionTooSmall { metric: &'static str, option: &'static str, value: usize, min: usize },
    #[error("{what}: no scores; at least one sample is needed")]
    NoScores { what: &'static str },
    #[error("{what}: score {index} is {value}; scores must be finite numbers")]
    NonFiniteScore { what: &'static str, index: usize, value: f64 },
    #[error("{what}: {name} is {value}; it must lie strictly between 0 and 1 (e.g. 0.95 for a level, 0.05 for alpha)")]
    NotAProbability { what: &'static str, name: &'static str, value: f64 },
    #[error("paired test: variant A has {a} scores and variant B has {b}; score both variants on the same samples")]
    UnpairedScores { a: usize, b: usize },
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<whet_adapter::Error> for Error {
    fn from(e: whet_adapter::Error) -> Error {
        Error::Adapter(Box::new(e))
    }
}
