//! Five optimiser steps against the same steps in PyTorch + PEFT (goldens from
//! `reference/make_adapter_goldens.py`): the tiny llama, the same padded micro-batches, gradient
//! accumulation over two micro-batches normalised per token, clipping at 1.0, AdamW. Per-step
//! losses and gradient norms within 1e-4 relative, for LoRA and for full fine-tuning.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde_json::Value;
use whet_models::CausalLm;
use whet_train::{accumulate_gradients, clip_grad_norm, full_params, lora_params, AdamW, AdamWConfig, Batch, Param};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("tests/golden/train/golden.json")).unwrap()).unwrap()
}

fn base() -> CausalLm {
    CausalLm::load(&root().join("tests/golden/models/llama"), DType::F32, &Device::Cpu).unwrap()
}

fn batches(step: &Value) -> Vec<Batch> {
    step["micro_batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|mb| {
            let rows = |k: &str| -> Vec<Vec<i64>> {
                mb[k].as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect()).collect()
            };
            Batch {
                input_ids: rows("input_ids").iter().map(|r| r.iter().map(|&v| v as u32).collect()).collect(),
                targets: rows("labels").iter().map(|r| r.iter().map(|&v| v != -100).collect()).collect(),
                segments: None,
                tokens: 0,
            }
        })
        .collect()
}

/// Runs the golden's five steps; returns (loss, grad norm) per step.
fn run(model: &CausalLm, params: &[Param]) -> Vec<(f64, f64)> {
    let g = golden();
    let mut opt = AdamW::new(AdamWConfig::default());
    let mut out = Vec::new();
    for step in g["steps"].as_array().unwrap() {
        let (loss, _, mut grads) = accumulate_gradients(model, params, &batches(step)).unwrap();
        let norm = clip_grad_norm(&mut grads, 1.0).unwrap();
        opt.step(params, &grads, 1e-3).unwrap();
        out.push((loss, norm));
    }
    out
}

fn check(run_name: &str, got: &[(f64, f64)]) {
    let g = golden();
    let expected = g[run_name]["per_step"].as_array().unwrap();
    assert_eq!(got.len(), expected.len());
    for (i, ((loss, norm), e)) in got.iter().zip(expected).enumerate() {
        let (el, en) = (e["loss"].as_f64().unwrap(), e["grad_norm"].as_f64().unwrap());
        eprintln!("{run_name} step {i}: loss {loss:.7} (torch {el:.7}), grad norm {norm:.6} (torch {en:.6})");
        assert!((loss - el).abs() / el < 1e-4, "{run_name} step {i}: loss {loss} vs {el}");
        assert!((norm - en).abs() / en < 1e-4, "{run_name} step {i}: grad norm {norm} vs {en}");
    }
}

#[test]
fn lora_sft_steps_match_pytorch_peft_within_1e4() {
    let mut model = base();
    whet_adapter::load_adapter(&mut model, &root().join("tests/golden/train/lora_init")).unwrap();
    let params = lora_params(&mut model, 0.01).unwrap();
    assert_eq!(params.iter().map(|p| p.var.elem_count()).sum::<usize>(), 8192);
    let base_weights: Vec<(String, Tensor)> = model.named_weights().expect("weights");
    let losses = run(&model, &params);
    check("lora", &losses);

    // The trained adapter equals PEFT's after the same five steps.
    let mut reference = base();
    whet_adapter::load_adapter(&mut reference, &root().join("tests/golden/train/lora_final")).unwrap();
    for ((name, ours), (_, theirs)) in model.projections().into_iter().zip(reference.projections()) {
        let (a, b) = (ours.lora.as_ref().unwrap(), theirs.lora.as_ref().unwrap());
        for (x, y) in [(&a.a, &b.a), (&a.b, &b.b)] {
            let d = (x - y).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(d < 1e-5, "{name}: {d}");
        }
    }
    // Only the adapter changed: every base weight is bit-identical.
    for ((name, before), (_, after)) in base_weights.iter().zip(model.named_weights().expect("weights")) {
        assert_eq!(before.flatten_all().unwrap().to_vec1::<f32>().unwrap(), after.flatten_all().unwrap().to_vec1::<f32>().unwrap(), "{name}");
    }
}

#[test]
fn full_fine_tuning_steps_match_pytorch_within_1e4() {
    let mut model = base();
    let params = full_params(&mut model, 0.01).unwrap();
    assert_eq!(params.iter().map(|p| p.var.elem_count()).sum::<usize>(), 106816);
    let losses = run(&model, &params);
    check("full", &losses);
    let finals = candle_core::safetensors::load(root().join("tests/golden/train/full_golden.safetensors"), &Device::Cpu).unwrap();
    let by_name: HashMap<String, Tensor> = model.named_weights().expect("weights").into_iter().collect();
    for (key, expected) in &finals {
        let Some(ours) = by_name.get(key) else { continue };
        let d = (ours - expected).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(d < 1e-5, "{key}: {d}");
    }
}

#[test]
fn every_trainable_parameter_receives_a_gradient() {
    // The way candle's gradient-dropping fused ops show up: some parameter gets none.
    let g = golden();
    let step = &g["steps"][0];
    for full in [false, true] {
        let mut model = base();
        let params = if full {
            full_params(&mut model, 0.0).unwrap()
        } else {
            let cfg = whet_adapter::LoraConfig {
                r: 2,
                lora_alpha: 4.0,
                lora_dropout: 0.0,
                use_rslora: false,
                target_modules: whet_adapter::TargetModules::AllLinear,
                base_model_name_or_path: None,
            };
            whet_adapter::init_adapter(&mut model, &cfg, 0).unwrap();
            // Non-zero B so A's gradient is non-zero too.
            for (_, p) in model.projections_mut() {
                if let Some(l) = &mut p.lora {
                    l.b = (l.b.ones_like().unwrap() * 0.01).unwrap();
                }
            }
            lora_params(&mut model, 0.0).unwrap()
        };
        let (_, _, grads) = accumulate_gradients(&model, &params, &batches(step)).unwrap();
        for p in &params {
            let grad = grads.get(&p.name).unwrap_or_else(|| panic!("{} received no gradient", p.name));
            let norm = grad.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0, "{}: zero gradient", p.name);
            // A gradient that still records its ops would keep the step's graph alive in the
            // optimiser's moments: memory grows by a step's activations every step.
            assert!(!grad.track_op(), "{}: gradient is not detached from the graph", p.name);
        }
    }
}

#[test]
fn packed_and_padded_batches_give_the_same_loss_and_gradients() {
    // Step 0's four records: two padded micro-batches vs one packed row of all four.
    let g = golden();
    let padded = batches(&g["steps"][0]);
    let packed = packed(&g["steps"][0]);
    let grads_of = |batches: &[Batch]| {
        let mut model = base();
        whet_adapter::load_adapter(&mut model, &root().join("tests/golden/adapters/llama_lora_r4")).unwrap();
        let params = lora_params(&mut model, 0.0).unwrap();
        accumulate_gradients(&model, &params, batches).unwrap()
    };
    let (loss_a, n_a, grads_a) = grads_of(&padded);
    let (loss_b, n_b, grads_b) = grads_of(std::slice::from_ref(&packed));
    assert_eq!(n_a, n_b);
    assert!((loss_a - loss_b).abs() / loss_a < 1e-6, "{loss_a} vs {loss_b}");
    for (name, ga) in &grads_a {
        let d = (ga - &grads_b[name]).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(d < 1e-5, "{name}: {d}");
    }
}

/// The golden's five steps with a fused path off and on (`set` switches it), for LoRA (frozen
/// tied head) and full fine-tuning (the tied head is the trained embedding matrix): per-step
/// losses and gradient norms agree within 1e-5 relative, the trained weights within
/// `weight_tolerance`.
fn fused_and_composed_runs_agree(set: fn(&mut CausalLm, bool), weight_tolerance: f32) {
    for full in [false, true] {
        let runs: Vec<(Vec<(f64, f64)>, Vec<(String, Tensor)>)> = [false, true]
            .into_iter()
            .map(|fused| {
                let mut model = base();
                set(&mut model, fused);
                let params = if full {
                    full_params(&mut model, 0.01).unwrap()
                } else {
                    whet_adapter::load_adapter(&mut model, &root().join("tests/golden/train/lora_init")).unwrap();
                    lora_params(&mut model, 0.01).unwrap()
                };
                let steps = run(&model, &params);
                (steps, params.iter().map(|p| (p.name.clone(), p.var.as_tensor().copy().unwrap())).collect())
            })
            .collect();
        let ((composed, w_composed), (fused, w_fused)) = (&runs[0], &runs[1]);
        for (i, ((lc, nc), (lf, nf))) in composed.iter().zip(fused).enumerate() {
            eprintln!("full {full} step {i}: loss {lc:.7} / {lf:.7}, grad norm {nc:.6} / {nf:.6}");
            assert!((lc - lf).abs() / lc < 1e-5, "full {full} step {i}: loss {lc} composed vs {lf} fused");
            assert!((nc - nf).abs() / nc < 1e-5, "full {full} step {i}: grad norm {nc} composed vs {nf} fused");
        }
        for ((name, a), (_, b)) in w_composed.iter().zip(w_fused) {
            let d = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(d < weight_tolerance, "full {full}, {name}: {d}");
        }
    }
}

#[test]
fn fused_and_composed_loss_paths_give_the_same_training_steps() {
    // `[train] fused_loss`: the chunked LM-head op against full logits + log-softmax.
    fused_and_composed_runs_agree(|m, on| m.fused_loss = on, 1e-5);
}

#[test]
fn fused_and_composed_attention_give_the_same_training_steps() {
    // `[train] fused_attention`: the flash-attention op against scores + causal mask + softmax
    // on the golden's padded micro-batches. AdamW moves a weight whose gradient is near 0 by
    // up to the learning rate whatever the gradient's size, so rounding-level gradient
    // differences reach the weights: after five steps one element of full fine-tuning's
    // layers.1.mlp.down_proj differs by 1.8e-5 (the rest by at most 2.7e-6, as with the fused
    // loss) while losses agree within 1e-7. The gradients themselves are compared below.
    fused_and_composed_runs_agree(|m, on| m.fused_attention = on, 1e-4);
    // Step 0's gradients, on the padded micro-batches and on the same records packed into one
    // row (records masked from each other), LoRA and full fine-tuning.
    let padded = batches(&golden()["steps"][0]);
    let packed = vec![packed(&golden()["steps"][0])];
    for (layout, batches) in [("padded", &padded), ("packed", &packed)] {
        for full in [false, true] {
            let grads: Vec<_> = [false, true]
                .into_iter()
                .map(|fused| {
                    let mut model = base();
                    model.fused_attention = fused;
                    let params = if full {
                        full_params(&mut model, 0.0).unwrap()
                    } else {
                        whet_adapter::load_adapter(&mut model, &root().join("tests/golden/adapters/llama_lora_r4")).unwrap();
                        lora_params(&mut model, 0.0).unwrap()
                    };
                    accumulate_gradients(&model, &params, batches).unwrap()
                })
                .collect();
            let ((loss_c, _, grads_c), (loss_f, _, grads_f)) = (&grads[0], &grads[1]);
            assert!((loss_c - loss_f).abs() / loss_c < 1e-5, "{layout}, full {full}: loss {loss_c} composed vs {loss_f} fused");
            assert_eq!(grads_c.len(), grads_f.len());
            for (name, gc) in grads_c {
                let d = (gc - &grads_f[name]).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                let scale = gc.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(d <= 1e-5 * scale.max(1e-3), "{layout}, full {full}, {name}: gradients differ by {d} (scale {scale})");
            }
        }
    }
}

/// Step 0's four records as one packed row (padding dropped, one segment per record).
fn packed(step: &Value) -> Batch {
    let mut packed = Batch { input_ids: vec![vec![]], targets: vec![vec![]], segments: Some(vec![vec![]]), tokens: 0 };
    let mut seg = 0;
    for b in &batches(step) {
        for (ids, targets) in b.input_ids.iter().zip(&b.targets) {
            // Real tokens are the target ones plus the first.
            let n = 1 + targets.iter().filter(|t| **t).count();
            packed.input_ids[0].extend(&ids[..n]);
            packed.targets[0].extend(&targets[..n]);
            packed.segments.as_mut().unwrap()[0].extend(std::iter::repeat_n(seg, n));
            seg += 1;
        }
    }
    packed
}

/// What a run of the golden's five steps gives: per step the loss and the gradients by name
/// (before clipping), then the final parameters.
struct Steps {
    losses: Vec<f64>,
    grads: Vec<HashMap<String, Tensor>>,
    params: Vec<(String, Tensor)>,
}

/// The golden's five steps (padded micro-batches, or each step's records packed into one row),
/// LoRA (from `lora_r4`, whose `B` is not zero, with dropout `p` on every adapter input, its
/// generator reseeded each step as `whet train` does) or full fine-tuning, with
/// every `checkpointing`th layer checkpointed (`None`: none).
fn steps(full: bool, dropout: f32, pack: bool, checkpointing: Option<usize>) -> Steps {
    use std::sync::{Arc, Mutex};
    use whet_models::{DropoutState, LoraDropout};
    let mut model = base();
    model.gradient_checkpointing = checkpointing;
    let state = Arc::new(Mutex::new(DropoutState::new(0)));
    let params = if full {
        full_params(&mut model, 0.01).unwrap()
    } else {
        whet_adapter::load_adapter(&mut model, &root().join("tests/golden/adapters/llama_lora_r4")).unwrap();
        for (_, p) in model.projections_mut() {
            if let Some(l) = &mut p.lora {
                l.dropout = Some(LoraDropout { p: dropout, state: state.clone() });
            }
        }
        lora_params(&mut model, 0.01).unwrap()
    };
    let g = golden();
    let mut opt = AdamW::new(AdamWConfig::default());
    let (mut losses, mut all_grads) = (Vec::new(), Vec::new());
    for (i, step) in g["steps"].as_array().unwrap().iter().enumerate() {
        *state.lock().unwrap() = DropoutState { active: true, ..DropoutState::new(1000 + i as u64) };
        let micro = if pack { vec![packed(step)] } else { batches(step) };
        let (loss, _, mut grads) = accumulate_gradients(&model, &params, &micro).unwrap();
        state.lock().unwrap().active = false;
        losses.push(loss);
        all_grads.push(grads.clone());
        clip_grad_norm(&mut grads, 1.0).unwrap();
        opt.step(&params, &grads, 1e-3).unwrap();
    }
    let params = params.iter().map(|p| (p.name.clone(), p.var.as_tensor().copy().unwrap())).collect();
    Steps { losses, grads: all_grads, params }
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn gradient_checkpointing_gives_bit_identical_training_steps() {
    // Checkpointed layers recompute with the same ops, inputs and dropout masks, so the loss,
    // every gradient and every updated weight are the same bits as without checkpointing (the
    // module doc of `whet_models::checkpointing` says why); `==` is the claim here, not a
    // tolerance. LoRA with dropout (the masks must be drawn again identically in the backward
    // pass), padded and packed rows; full fine-tuning (every layer weight's gradient comes
    // through the checkpointed op's side store, the tied head's and embeddings' through candle).
    // Every layer, and every second one (`checkpoint_every = 2`: checkpointed and plain layers
    // in one model).
    let cases = [(false, 0.1, false, 1), (false, 0.1, true, 1), (true, 0.0, false, 1), (true, 0.0, true, 1), (false, 0.1, false, 2), (true, 0.0, true, 2)];
    for (full, dropout, pack, every) in cases {
        let case = format!("full {full}, dropout {dropout}, packed {pack}, every {every}");
        let (plain, ckpt) = (steps(full, dropout, pack, None), steps(full, dropout, pack, Some(every)));
        assert_eq!(plain.losses, ckpt.losses, "{case}: losses");
        for (i, (a, b)) in plain.grads.iter().zip(&ckpt.grads).enumerate() {
            let mut names: Vec<&String> = a.keys().collect();
            names.sort();
            let mut names_b: Vec<&String> = b.keys().collect();
            names_b.sort();
            assert_eq!(names, names_b, "{case} step {i}: the same parameters have gradients");
            for name in names {
                assert_eq!(values(&a[name]), values(&b[name]), "{case} step {i}: gradient of {name}");
            }
        }
        for ((name, a), (_, b)) in plain.params.iter().zip(&ckpt.params) {
            assert_eq!(values(a), values(b), "{case}: {name} after five steps");
        }
        eprintln!("{case}: losses {:?}", ckpt.losses);
    }
}

#[test]
fn checkpointed_layer_parameters_get_gradients_only_through_the_model_backward() {
    // Proof that the layers really ran checkpointed (else the test above compares a run with
    // itself): candle's own backward does not reach a checkpointed layer's parameters; the
    // model's backward merges them in.
    // With `checkpoint_every = 2`, only the even layers are checkpointed.
    let mut model = base();
    assert!(model.layers.len() >= 2, "the golden model needs two layers for this test");
    model.gradient_checkpointing = Some(2);
    whet_adapter::load_adapter(&mut model, &root().join("tests/golden/adapters/llama_lora_r4")).unwrap();
    let params = lora_params(&mut model, 0.0).unwrap();
    let batch = &batches(&golden()["steps"][0])[0];
    let (loss, _) = whet_train::cross_entropy_sum(&model, batch).unwrap();
    let plain = loss.backward().unwrap();
    let merged = model.backward(&loss).unwrap();
    let layer_params: Vec<&Param> = params.iter().filter(|p| p.name.contains(".layers.")).collect();
    assert!(!layer_params.is_empty());
    for p in layer_params {
        let layer: usize = p.name.split(".layers.").nth(1).and_then(|r| r.split('.').next()).unwrap().parse().unwrap();
        let checkpointed = layer % 2 == 0;
        assert_eq!(plain.get(p.var.as_tensor()).is_none(), checkpointed, "{}: reached through candle's backward only when not checkpointed", p.name);
        assert!(merged.get(p.var.as_tensor()).is_some(), "{}: no gradient from the model's backward", p.name);
    }
}
