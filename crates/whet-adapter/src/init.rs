//! New LoRA adapters initialised as PEFT initialises them by default
//! (`init_lora_weights=True` in `peft/tuners/lora/layer.py`): `A` from Kaiming-uniform with
//! `a = √5`, i.e. uniform in `±1/√in`, and `B` zero, so the adapted model starts out equal to
//! the base. Values come from a seeded generator: the same seed gives the same adapter.

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use whet_models::{CausalLm, Lora};

use crate::config::LoraConfig;
use crate::error::{Error, Result};

/// Attaches a fresh adapter to every projection `config` targets; returns their module paths.
pub fn init_adapter(model: &mut CausalLm, config: &LoraConfig, seed: u64) -> Result<Vec<String>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut targeted = Vec::new();
    let mut names = Vec::new();
    for (module, proj) in model.projections_mut() {
        names.push(module.clone());
        if !config.target_modules.matches(&module) {
            continue;
        }
        let (in_dim, out_dim, r) = (proj.in_dim(), proj.out_dim(), config.r);
        let bound = 1.0 / (in_dim as f32).sqrt();
        let a: Vec<f32> = (0..r * in_dim).map(|_| rng.random_range(-bound..bound)).collect();
        proj.lora = Some(Lora {
            a: Tensor::from_vec(a, (r, in_dim), &Device::Cpu)?,
            b: Tensor::zeros((out_dim, r), candle_core::DType::F32, &Device::Cpu)?,
            scale: config.scale(r),
            dropout: None,
        });
        targeted.push(module);
    }
    if targeted.is_empty() {
        return Err(Error::NoTargets {
            targets: format!("{:?}", config.target_modules),
            names: names.iter().take(7).cloned().collect::<Vec<_>>().join(", "),
        });
    }
    Ok(targeted)
}
