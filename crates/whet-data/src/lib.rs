//! Records, dataset formats and the data-preparation pipeline for whet.
//!
//! `records` reads dataset files (JSONL, gzip/zstd JSONL, Parquet) into a stream of raw rows
//! that remember their file and line; `formats` turns a row into a typed [`records::Record`]
//! (OpenAI `messages`, ShareGPT `conversations`, Alpaca, raw `text`, preference pairs);
//! `prep` is the `whet data prep` pipeline (normalise, validate, filter, deduplicate, redact,
//! audit, split). Nothing here touches tensors.

use std::path::PathBuf;

pub mod formats;
pub mod prep;
pub mod records;

/// Every error whet-data returns. Each variant names where the problem is (file, line or config
/// key) and its message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The I/O error's text is part of the message (not a `source`), so it is printed once.
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    /// A line or row of a dataset that is not a valid record.
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// A dataset file that cannot be read as a whole (unknown extension, broken Parquet, empty).
    #[error("{path}: {message}")]
    BadFile { path: PathBuf, message: String },
    /// A config (or policy file) key with a bad value, or an unknown key.
    #[error("{path}: {location}`{key}`: {message}")]
    Config {
        path: PathBuf,
        /// `line N: ` when the line is known, else empty.
        location: String,
        key: String,
        message: String,
    },
    /// A broken invariant inside whet (a bug): the message says which.
    #[error("internal error: {message}; please report this as a whet bug")]
    Internal { message: String },
}

pub type Result<T> = std::result::Result<T, Error>;
