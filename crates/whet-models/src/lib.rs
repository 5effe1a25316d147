//! whet-models: tensors in, tensors out. Decoder-only architectures loaded from Hugging Face
//! model directories (`llama`, `mistral`, `qwen2`), their layers, memory-mapped weight loading,
//! and token generation with the usual sampling controls.
//!
//! No tokenisers, no chat templates (those are in `whet-data`), no training loop, no server.

pub mod attention;
pub mod checkpointing;
pub mod config;
mod cpu_storage;
pub mod decoder;
pub mod error;
pub mod flash_attention;
pub mod frozen_linear;
pub mod fused_cross_entropy;
pub mod gemv;
pub mod generation;
pub mod generation_config;
pub mod kv_cache;
pub mod matmul_into;
pub mod linear;
pub mod llama;
pub mod lora_linear;
pub mod mistral;
pub mod peak_rss;
pub mod proj;
pub mod quant;
pub mod qwen2;
pub mod rms_norm;
pub mod rope;
pub mod row_adapters;
pub mod save;
pub mod softmax;
pub mod swiglu;
pub mod weights;

pub use config::DecoderConfig;
pub use decoder::{read_config, CausalLm};
pub use error::{Error, Result};
pub use generation::{generate, generate_samples, FinishReason, Generated, GenerationParams, Sampler, SamplingParams};
pub use generation_config::{GenerationConfig, SamplingChoices};
pub use kv_cache::KvCache;
pub use proj::{DropoutState, Lora, LoraDropout, Proj};
pub use row_adapters::{AdapterWeights, RowAdapters};
pub use weights::parse_dtype;
