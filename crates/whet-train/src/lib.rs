//! whet-train: what a training run is made of — trainable parameters (LoRA or full), the
//! token-summed loss, PyTorch-exact AdamW, gradient clipping — and, as they land, the recipes
//! (`cpt`, `sft`, `dpo`) as readable top-to-bottom loops.

pub mod accumulate;
pub mod adamw;
pub mod batching;
pub mod checkpoint;
pub mod config;
pub mod dataset;
pub mod dpo_loss;
pub mod dpo_reference;
pub mod error;
pub mod grad_clip;
pub mod loss;
pub mod loss_curve;
pub mod metrics;
pub mod preference_data;
pub mod schedule;
pub mod sft;
pub mod tensorboard;
pub mod trainable;

pub use accumulate::accumulate_gradients;
pub use dpo_loss::{preference_gradients, preference_loss, PreferenceBatch, PreferenceLoss, PreferenceMetrics, PreferenceObjective};
pub use adamw::{AdamW, AdamWConfig};
pub use dpo_reference::Reference;
pub use error::{Error, Result};
pub use grad_clip::clip_grad_norm;
pub use loss::{cross_entropy_sum, Batch};
pub use trainable::{full_params, lora_params, Param};
