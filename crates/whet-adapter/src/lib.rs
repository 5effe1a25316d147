//! whet-adapter: the LoRA adapter contract shared by training, evaluation and serving —
//! PEFT-compatible files (read, validate against a model, write), PEFT's initialisation, and
//! merging into the base weights.

pub mod config;
pub mod error;
pub mod init;
pub mod peft;

pub use config::{LoraConfig, TargetModules};
pub use error::{Error, Result};
pub use init::init_adapter;
pub use peft::{load_adapter, merge_adapters, save_adapter};
