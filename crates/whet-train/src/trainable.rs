//! The parameters a run trains, as named candle `Var`s wired into the model: the LoRA `A`/`B`
//! matrices (named with PEFT's keys), or every weight for full fine-tuning (named with the
//! checkpoint's keys). Everything else stays a plain tensor that backprop does not update.

use candle_core::{DType, Var};
use whet_models::CausalLm;

use crate::error::Result;

/// A trainable tensor with its name and AdamW weight decay.
pub struct Param {
    pub name: String,
    pub var: Var,
    pub weight_decay: f64,
}

/// Turns every attached LoRA adapter into trainable variables (all with `weight_decay`).
pub fn lora_params(model: &mut CausalLm, weight_decay: f64) -> Result<Vec<Param>> {
    let mut params = Vec::new();
    for (module, proj) in model.projections_mut() {
        if let Some(lora) = &mut proj.lora {
            for (suffix, t) in [("lora_A", &mut lora.a), ("lora_B", &mut lora.b)] {
                let var = Var::from_tensor(&t.to_dtype(DType::F32)?)?;
                *t = var.as_tensor().clone();
                params.push(Param {
                    name: format!("base_model.model.{module}.{suffix}.weight"),
                    var,
                    weight_decay,
                });
            }
        }
    }
    Ok(params)
}

/// Makes every weight trainable. Matrices get `weight_decay`; norms and biases (1-D) none, as
/// transformers' Trainer and TRL group them.
pub fn full_params(model: &mut CausalLm, weight_decay: f64) -> Result<Vec<Param>> {
    let mut params = Vec::new();
    model.visit_weights_mut(|name, t| {
        let var = Var::from_tensor(&t.to_dtype(DType::F32)?)?;
        *t = var.as_tensor().clone();
        let decay = if var.rank() >= 2 { weight_decay } else { 0.0 };
        params.push(Param {
            name: name.to_string(),
            var,
            weight_decay: decay,
        });
        Ok(())
    })?;
    Ok(params)
}
