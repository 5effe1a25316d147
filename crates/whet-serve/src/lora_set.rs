//! One adapter's LoRA weights held apart from the model, so one base model serves many adapters
//! unmerged: a batched decoding step applies each row's set per row ([`whet_models::RowAdapters`]),
//! and a prompt's prefill installs its set into the model's projections for that pass.
//! Installing moves a few `Arc`s per projection; nothing is copied and the base weights are
//! never touched.

use std::path::Path;

use whet_models::{AdapterWeights, CausalLm, Lora};

use crate::error::{Error, Result};

/// Per projection of the model, in [`CausalLm::projections`] order: the adapter's update, if it
/// targets that projection.
#[derive(Debug, Clone)]
pub struct LoraSet {
    loras: Vec<Option<Lora>>,
}

impl LoraSet {
    /// Reads the PEFT adapter `name` in `dir`, checked against `base` (a model without
    /// adapters) as `whet_adapter::load_adapter` checks it.
    pub fn load(base: &CausalLm, name: &str, dir: &Path) -> Result<Self> {
        // A clone shares the base's tensors; the adapter attaches to the clone's projections
        // and is taken off them again.
        let mut model = base.clone();
        whet_adapter::load_adapter(&mut model, dir).map_err(|e| Error::Adapter {
            name: name.to_string(),
            source: Box::new(e),
        })?;
        let loras = model
            .projections_mut()
            .into_iter()
            .map(|(_, p)| p.lora.take())
            .collect();
        Ok(Self { loras })
    }

    /// The updates, per projection in [`CausalLm::projections`] order.
    pub fn weights(&self) -> &AdapterWeights {
        &self.loras
    }

    /// Sets every projection's adapter to this set's (`None`: the base model).
    pub fn install(model: &mut CausalLm, set: Option<&LoraSet>) {
        for (i, (_, proj)) in model.projections_mut().into_iter().enumerate() {
            proj.lora = set.and_then(|s| s.loras.get(i).cloned().flatten());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};
    use whet_adapter::{LoraConfig, TargetModules};

    fn base_model() -> CausalLm {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/base-model");
        CausalLm::load(&dir, candle_core::DType::F32, &Device::Cpu).unwrap()
    }

    #[test]
    fn installed_set_matches_a_loaded_adapter_and_uninstalling_restores_the_base() {
        let mut model = base_model();
        let config = LoraConfig {
            r: 4,
            lora_alpha: 8.0,
            lora_dropout: 0.0,
            use_rslora: false,
            target_modules: TargetModules::Names(vec!["q_proj".into(), "down_proj".into()]),
            base_model_name_or_path: None,
        };
        let mut adapted = model.clone();
        whet_adapter::init_adapter(&mut adapted, &config, 3).unwrap();
        for (_, p) in adapted.projections_mut() {
            if let Some(l) = &mut p.lora {
                l.b = (l.b.ones_like().unwrap() * 0.01).unwrap();
            }
        }
        let dir = tempfile::tempdir().unwrap();
        whet_adapter::save_adapter(&adapted, &config, dir.path()).unwrap();
        let mut loaded = model.clone();
        whet_adapter::load_adapter(&mut loaded, dir.path()).unwrap();

        let ids = Tensor::new(&[[5u32, 9, 17, 3]], &Device::Cpu).unwrap();
        let logits = |m: &CausalLm| -> Vec<f32> {
            m.forward_last(&ids, &mut m.new_cache())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        let base = logits(&model);
        let set = LoraSet::load(&model, "test", dir.path()).unwrap();
        LoraSet::install(&mut model, Some(&set));
        let with_set = logits(&model);
        assert_eq!(
            with_set,
            logits(&loaded),
            "installed set must equal load_adapter"
        );
        assert!(
            with_set
                .iter()
                .zip(&base)
                .any(|(a, b)| (a - b).abs() > 1e-4),
            "the adapter must change the logits"
        );
        LoraSet::install(&mut model, None);
        assert_eq!(logits(&model), base);
    }
}
