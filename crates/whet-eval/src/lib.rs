//! whet-eval: how good a model (or a model with an adapter) is on data — negative log-likelihood
//! and perplexity under the loss mask training uses, generated answers, and task metrics such as
//! exact match.

pub mod answer;
pub mod error;
pub mod score;
pub mod squad;
pub mod wilson;

pub use answer::{answer, sample_answers, AnswerOptions};
pub use error::{Error, Result};
pub use squad::{exact_match, f1_score, normalize_answer};
pub use score::{perplexity, score_tokenized};
pub use wilson::wilson_interval;
