//! LoRA invariants on the golden tiny models: a fresh adapter leaves the model unchanged, saving
//! and loading round-trips bit-exactly, merged equals unmerged, unmerge restores the base, and an
//! adapter for another model is refused by key.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use whet_adapter::{init_adapter, load_adapter, merge_adapters, save_adapter, LoraConfig, TargetModules};
use whet_models::CausalLm;

fn golden_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/models").join(name)
}

fn load(name: &str) -> CausalLm {
    CausalLm::load(&golden_dir(name), DType::F32, &Device::Cpu).unwrap()
}

fn config(targets: TargetModules) -> LoraConfig {
    LoraConfig {
        r: 4,
        lora_alpha: 8.0,
        lora_dropout: 0.0,
        use_rslora: false,
        target_modules: targets,
        base_model_name_or_path: None,
    }
}

fn logits(model: &CausalLm) -> Tensor {
    let ids = Tensor::new(&[[507u32, 12, 99, 300, 41, 7, 256, 400]], &Device::Cpu).unwrap();
    model.forward(&ids, &mut model.new_cache()).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
}

/// Gives every attached adapter a non-zero B so it changes the output.
fn randomise_b(model: &mut CausalLm) {
    for (i, (_, proj)) in model.projections_mut().into_iter().enumerate() {
        if let Some(lora) = &mut proj.lora {
            let shape = lora.b.dims().to_vec();
            lora.b = (Tensor::randn(0f32, 0.05, shape, &Device::Cpu).unwrap() * (1.0 + i as f64 * 0.01)).unwrap();
        }
    }
}

#[test]
fn fresh_adapter_starts_equal_to_the_base_model() {
    let base = load("llama");
    let mut adapted = load("llama");
    let targeted = init_adapter(&mut adapted, &config(TargetModules::AllLinear), 0).unwrap();
    assert_eq!(targeted.len(), 2 * 7, "all-linear on 2 layers, lm_head tied so excluded");
    assert_eq!(max_diff(&logits(&base), &logits(&adapted)), 0.0);
    // A is PEFT's Kaiming-uniform: bounded by 1/sqrt(in) and not all zero.
    let a = &adapted.layers[0].self_attn.q_proj.lora.as_ref().unwrap().a;
    let max = a.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(max > 0.05 && max <= 1.0 / 8.0, "{max}");
}

#[test]
fn same_seed_same_adapter_other_seed_other_adapter() {
    let cfg = config(TargetModules::Names(vec!["q_proj".into()]));
    let a_of = |seed| {
        let mut m = load("llama");
        init_adapter(&mut m, &cfg, seed).unwrap();
        m.layers[1].self_attn.q_proj.lora.as_ref().unwrap().a.clone()
    };
    assert_eq!(max_diff(&a_of(1), &a_of(1)), 0.0);
    assert!(max_diff(&a_of(1), &a_of(2)) > 0.0);
}

#[test]
fn save_and_load_round_trip_bit_exact() {
    let mut model = load("qwen2");
    let cfg = config(TargetModules::Names(vec!["q_proj".into(), "v_proj".into(), "down_proj".into()]));
    init_adapter(&mut model, &cfg, 3).unwrap();
    randomise_b(&mut model);
    let dir = tempfile::tempdir().unwrap();
    save_adapter(&model, &cfg, dir.path()).unwrap();
    let mut reloaded = load("qwen2");
    let read_cfg = load_adapter(&mut reloaded, dir.path()).unwrap();
    assert_eq!(read_cfg.r, 4);
    assert_eq!(read_cfg.target_modules, TargetModules::Names(vec!["q_proj".into(), "v_proj".into(), "down_proj".into()]));
    for ((name, p), (_, q)) in model.projections().into_iter().zip(reloaded.projections()) {
        match (&p.lora, &q.lora) {
            (Some(x), Some(y)) => {
                assert_eq!(x.a.to_vec2::<f32>().unwrap(), y.a.to_vec2::<f32>().unwrap(), "{name}");
                assert_eq!(x.b.to_vec2::<f32>().unwrap(), y.b.to_vec2::<f32>().unwrap(), "{name}");
                assert_eq!(x.scale, y.scale);
            }
            (None, None) => {}
            _ => panic!("{name}: adapter presence differs after reload"),
        }
    }
    assert_eq!(max_diff(&logits(&model), &logits(&reloaded)), 0.0);
}

#[test]
fn merged_adapter_matches_unmerged_forward() {
    for name in ["llama", "qwen2", "llama_mqa"] {
        let mut model = load(name);
        init_adapter(&mut model, &config(TargetModules::AllLinear), 5).unwrap();
        randomise_b(&mut model);
        let unmerged = logits(&model);
        let base = logits(&load(name));
        assert!(max_diff(&unmerged, &base) > 1e-2, "{name}: the adapter should change the output");
        merge_adapters(&mut model).unwrap();
        assert!(model.projections().iter().all(|(_, p)| p.lora.is_none()));
        let merged = logits(&model);
        let scale = unmerged.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(max_diff(&merged, &unmerged) / scale < 1e-5, "{name}");
    }
}

#[test]
fn unmerge_restores_the_base_weights() {
    let mut model = load("llama");
    init_adapter(&mut model, &config(TargetModules::Names(vec!["o_proj".into()])), 9).unwrap();
    randomise_b(&mut model);
    let proj = &mut model.layers[0].self_attn.o_proj;
    let before = proj.weight.clone();
    let lora = proj.lora.clone().unwrap();
    proj.merge().unwrap();
    assert!(max_diff(&proj.weight, &before) > 0.0);
    proj.unmerge(lora).unwrap();
    assert!(max_diff(&proj.weight, &before) < 1e-6);
    assert!(proj.lora.is_some());
}

#[test]
fn adapter_for_a_model_of_another_shape_is_refused_by_key() {
    let mut model = load("llama");
    let cfg = config(TargetModules::Names(vec!["q_proj".into()]));
    init_adapter(&mut model, &cfg, 0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save_adapter(&model, &cfg, dir.path()).unwrap();
    // llama_mqa has head_dim 24, so its q_proj is 96 wide, not 64.
    let err = load_adapter(&mut load("llama_mqa"), dir.path()).unwrap_err().to_string();
    assert!(err.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"), "{err}");
    assert!(err.contains("[96, 4]") && err.contains("another size"), "{err}");
}

#[test]
fn target_modules_that_match_nothing_are_an_error() {
    let err = init_adapter(&mut load("llama"), &config(TargetModules::Names(vec!["c_attn".into()])), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("c_attn") && err.contains("q_proj"), "{err}");
}
