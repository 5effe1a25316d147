//! whet-data: what turns text into training and evaluation examples — tokenisers, chat
//! templates rendered as transformers renders them, and loss masks. No tensors: this crate
//! compiles fast and tests without candle.

pub mod chat_template;
pub mod error;
pub mod loss_mask;
pub mod pyjson;
pub mod tokenizer;

pub use chat_template::{ChatTemplate, RenderOptions};
pub use error::{Error, Result};
pub use loss_mask::{tokenize_chat, tokenize_text, Tokenized};
pub use tokenizer::ModelTokenizer;
