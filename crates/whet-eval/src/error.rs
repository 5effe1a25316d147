//! The error type of `whet-eval`.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] whet_models::Error),
    #[error(transparent)]
    Data(#[from] whet_data::Error),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
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
