//! whet-serve: `whet serve CONFIG`, an OpenAI-compatible HTTP server (axum + tokio) for a base
//! model and any number of LoRA adapters on it, each adapter a model name, applied per request
//! without merging.
//!
//! `config` reads the TOML file; `served_models` loads the model, tokenizers and adapters
//! (`lora_set` holds each adapter's weights apart from the model); `engine` is the thread that
//! owns the model and decodes with continuous batching; `completions` (with `choice` and
//! `api_types`) implements the chat and completions endpoints, streamed or not; `server` has the
//! routes, authentication and lifecycle; `api_error` the OpenAI error format.
//!
//! Not here yet (issue #6): a batched forward over sequences of different lengths, adapter hot
//! add/remove, A/B routes, guardrails, feedback capture, Prometheus metrics, `/openapi.json`.

pub mod api_error;
pub mod api_types;
pub mod choice;
pub mod completions;
pub mod config;
pub mod engine;
pub mod error;
pub mod lora_set;
pub mod served_models;
pub mod server;

pub use config::ServeConfig;
pub use error::{Error, Result};
pub use server::{ctrl_c, Server};
