//! The error type of `whet-data`: each variant says which file, line, key or template it is about
//! and, where there is one, how to fix it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    #[error("unknown built-in chat template `{name}` (built-in: {builtins})")]
    UnknownBuiltinTemplate { name: String, builtins: String },
    #[error("chat template from {origin}: {message}")]
    Template { origin: String, message: String },
    #[error("chat template from {origin} renders the conversation up to message {index} differently when later messages follow, so the assistant tokens cannot be located; use a template whose rendering of earlier turns does not depend on later ones")]
    TemplateNotIncremental { origin: String, index: usize },
    #[error("{path}:{line}: {message}")]
    Record {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

pub type Result<T> = std::result::Result<T, Error>;
