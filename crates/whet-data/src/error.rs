//! Every error whet-data returns. Each variant names where the problem is (file, line, config key
//! or template) and its message says what to change.

use std::path::PathBuf;

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
    #[error("{path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("{path}: `{key}` {message}")]
    TokenizerConfig {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("{dir}: no chat template (looked for `chat_template` in tokenizer_config.json and for chat_template.jinja); choose a built-in one ({builtins}) or pass a template file")]
    NoChatTemplate { dir: PathBuf, builtins: String },
    #[error("`{name}` is neither a chat template file nor a built-in template ({builtins})")]
    UnknownBuiltinTemplate { name: String, builtins: String },
    #[error("chat template from {origin}: {message}")]
    Template { origin: String, message: String },
    #[error("chat template from {origin} renders the conversation up to message {index} differently when later messages follow, so the assistant tokens cannot be located; use a template whose rendering of earlier turns does not depend on later ones")]
    TemplateNotIncremental { origin: String, index: usize },
}

pub type Result<T> = std::result::Result<T, Error>;
