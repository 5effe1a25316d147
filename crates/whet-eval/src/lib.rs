//! whet-eval: how good a model (or a model with an adapter) is on data — negative log-likelihood
//! and perplexity under the loss mask training uses, generated answers, task metrics (exact match,
//! token F1, ROUGE, BLEU, chrF), and bootstrap and Wilson intervals and paired tests for comparing
//! variants; and `whet eval` itself ([`runner`]): several model variants on generation,
//! perplexity, multiple-choice and glossary (hallucination index) sets, with per-sample records,
//! intervals, paired tests, a forgetting check, a contamination check and a report.

pub mod agreement;
pub mod answer;
pub mod bleu;
pub mod bootstrap;
pub mod chrf;
pub mod config;
pub mod contamination;
pub mod error;
pub mod eval_data;
pub mod glossary;
pub mod multiple_choice;
pub mod openai_client;
pub mod paired_test;
pub mod pairwise;
pub mod porter;
mod python_whitespace;
pub mod report;
mod report_html;
pub mod review;
pub mod review_import;
pub mod rouge;
pub mod runner;
pub mod score;
pub mod squad;
pub mod tokenizer_13a;
pub mod wilson;

pub use answer::{answer, sample_answers, AnswerOptions};
pub use bleu::{corpus_bleu, sentence_bleu, BleuOptions, BleuScore, Smoothing};
pub use bootstrap::{bootstrap_mean_ci, bootstrap_ratio_ci, BootstrapOptions, ConfidenceInterval};
pub use chrf::{corpus_chrf, sentence_chrf, ChrfOptions};
pub use config::EvalConfig;
pub use error::{Error, Result};
pub use report::Report;
pub use runner::{run as run_eval, RunOptions as EvalOptions};
pub use paired_test::{paired_permutation_test, PairedTest, PairedTestOptions};
pub use rouge::{Rouge, RougeScore, RougeScores};
pub use score::{perplexity, score_tokenized};
pub use squad::{exact_match, f1_score, normalize_answer};
pub use tokenizer_13a::tokenize_13a;
pub use wilson::wilson_interval;
