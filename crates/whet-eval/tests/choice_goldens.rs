//! Multiple choice by log-likelihood against lm-evaluation-harness's procedure run with
//! transformers (`reference/make_choice_goldens.py`, `tests/golden/multiple_choice/choices.json`)
//! on the golden tiny llama and on the bundled base model: context and continuation token ids
//! exactly, each choice's summed log-likelihood within 1e-4 relative (f32 forward passes on both
//! sides; whet sums in f64 as the reference does), and the acc and acc_norm picks exactly.

use std::path::Path;

use candle_core::{DType, Device};
use serde_json::Value;
use whet_data::ModelTokenizer;
use whet_eval::multiple_choice::{encode_pair, score_choices};
use whet_models::CausalLm;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().expect("ids").iter().map(|x| x.as_u64().expect("id") as u32).collect()
}

#[test]
fn choice_loglikelihoods_match_lm_eval_with_transformers() {
    let path = root().join("tests/golden/multiple_choice/choices.json");
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("golden file")).expect("golden JSON");
    let mut worst = 0.0f64;
    for (name, m) in golden["models"].as_object().expect("models") {
        let dir = root().join(m["path"].as_str().expect("path"));
        let model = CausalLm::load(&dir, DType::F32, &Device::Cpu).expect("model");
        let tok = ModelTokenizer::load(&dir).expect("tokenizer");
        for case in m["cases"].as_array().expect("cases") {
            let id = format!("{name}/{}", case["id"]);
            let context = case["context"].as_str().expect("context");
            let choices: Vec<String> = case["choices"].as_array().expect("choices").iter().map(|c| c.as_str().expect("choice").to_string()).collect();
            for (k, choice) in choices.iter().enumerate() {
                let (ctx, cont) = encode_pair(&tok, context, &format!(" {choice}")).expect("encode");
                assert_eq!(ctx, ids(&case["context_ids"]), "{id}: context ids");
                assert_eq!(cont, ids(&case["continuation_ids"][k]), "{id}: continuation ids of {choice:?}");
            }
            let scores = score_choices(&model, &tok, context, &choices).expect("scores");
            for (got, want) in scores.loglikelihoods.iter().zip(case["loglikelihoods"].as_array().expect("lls")) {
                let want = want.as_f64().expect("ll");
                let rel = (got - want).abs() / want.abs().max(1.0);
                worst = worst.max(rel);
                assert!(rel < 1e-4, "{id}: {got} vs {want}");
            }
            assert_eq!(scores.pick as u64, case["acc_pick"].as_u64().expect("pick"), "{id}: acc pick");
            assert_eq!(scores.pick_norm as u64, case["acc_norm_pick"].as_u64().expect("pick"), "{id}: acc_norm pick");
        }
    }
    println!("largest relative difference: {worst:.2e}");
}
