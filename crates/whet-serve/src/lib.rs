//! whet-serve: `whet serve CONFIG`, an OpenAI-compatible HTTP server (axum + tokio) for a base
//! model and any number of LoRA adapters on it, each adapter a model name, applied per request
//! without merging.
//!
//! `config` reads the TOML file; `served_models` loads the model, tokenizers and adapters
//! (`lora_set` holds each adapter's weights apart from the model); `engine` is the thread that
//! owns the model and decodes with continuous batching; `completions` (with `choice`,
//! `api_types` and `completion_stream`) implements the chat and completions endpoints, streamed
//! or not; `server` has the routes, authentication and lifecycle; `api_error` the OpenAI error
//! format; `routes` the A/B routes (sticky weighted variants) and `route_api` changing their
//! weights at run time;
//! `adapter_api` adds, replaces and removes adapters at run time;
//! `feedback_store` keeps finished responses and user feedback in SQLite, `feedback_api` takes
//! feedback and `feedback_export` turns it into training data and per-variant tallies;
//! `metrics` is the Prometheus registry behind `/metrics` and `request_trace` follows each
//! request to its metrics and its log line; `openapi` serves the API's OpenAPI document;
//! `guardrail_config` and `guardrails` are the per-route guardrail policies and their prompt
//! checks, `output_guard` checks generated text, streamed or not.
//!
//! Not here yet (issue #6): a batched forward over sequences of different lengths.

pub mod adapter_api;
pub mod api_error;
pub mod api_types;
pub mod choice;
pub mod completion_stream;
pub mod completions;
pub mod config;
pub mod engine;
pub mod error;
pub mod feedback_api;
pub mod feedback_export;
pub mod feedback_store;
pub mod guardrail_config;
pub mod guardrails;
pub mod lora_set;
pub mod metrics;
pub mod openapi;
pub mod output_guard;
pub mod request_trace;
pub mod route_api;
pub mod routes;
pub mod served_models;
pub mod server;

pub use config::ServeConfig;
pub use error::{Error, Result};
pub use server::{ctrl_c, Server};
