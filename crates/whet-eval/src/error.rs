//! The error type of `whet-eval`.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] whet_models::Error),
    #[error(transparent)]
    Data(#[from] whet_data::Error),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
