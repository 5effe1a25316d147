//! whet-data: what turns raw data into training and evaluation examples, without tensors (it
//! compiles fast and tests without candle).
//!
//! `records` reads dataset files (JSONL, gzip/zstd JSONL, Parquet) into rows that remember their
//! file and line; `formats` turns a row into a typed [`formats::Record`] (OpenAI `messages`,
//! ShareGPT `conversations`, Alpaca, raw `text`, preference pairs); `prep` is the
//! `whet data prep` pipeline (normalise, validate, filter, deduplicate, redact, audit, split);
//! `tokenizer`, `chat_template` and `loss_mask` turn records into token ids with the loss mask
//! training uses, rendering chat templates as transformers does; `preference` checks preference
//! pairs and tokenises them as TRL's `DPOTrainer` does.

pub mod chat_template;
pub mod error;
mod file_hash;
pub mod formats;
pub mod loss_mask;
pub mod prep;
pub mod preference;
pub mod pyjson;
pub mod records;
pub mod text_stream;
pub mod tokenizer;
pub mod tokenizer_train;

pub use chat_template::{ChatTemplate, RenderOptions};
pub use error::{Error, Result};
pub use file_hash::file_sha256;
pub use preference::{parse_pair, read_pairs, tokenize_pair, PreferencePair, TokenizedPair, Truncation, TruncationMode};
pub use loss_mask::{tokenize_chat, tokenize_chat_with, tokenize_text, ChatMask, Tokenized};
pub use text_stream::TextStream;
pub use tokenizer::ModelTokenizer;
