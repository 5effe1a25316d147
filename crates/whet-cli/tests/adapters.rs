//! `--adapter` and `whet merge` against PEFT (goldens from `reference/make_adapter_goldens.py`):
//! adapters PEFT saved score the same NLL in whet as in PEFT, and the merged model whet writes
//! gives PEFT's merged logits.

mod common;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use common::{golden_data_file as data_file, root, s, whet};
use serde_json::Value;

const ADAPTERS: &[&str] = &["llama_lora_r4", "llama_rslora_qv", "qwen2_lora_r4"];

fn adapter_dir(name: &str) -> PathBuf {
    root().join("tests/golden/adapters").join(name)
}

fn golden(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(adapter_dir(name).join("golden.json")).unwrap()).unwrap()
}

fn score(model: &Path, adapter: Option<&Path>, data: &Path) -> Vec<Value> {
    let mut args = vec!["score", "--model", s(model), "--data", s(data), "--json"];
    if let Some(a) = adapter {
        args.extend(["--adapter", s(a)]);
    }
    let out = whet(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["records"].as_array().unwrap().clone()
}

fn assert_close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() / want.abs() < 1e-4, "{what}: {got} vs PEFT {want}");
}

#[test]
fn peft_adapters_score_the_same_nll_in_whet_as_in_peft() {
    for name in ADAPTERS {
        let g = golden(name);
        let base = root().join(g["base_model_dir"].as_str().unwrap());
        let tmp = tempfile::tempdir().unwrap();
        let (data, expected) = data_file(tmp.path(), &g);
        let records = score(&base, Some(&adapter_dir(name)), &data);
        for (got, want) in records.iter().zip(&expected) {
            assert_eq!(got["n_tokens"], want["n_tokens"]);
            let nll = got["nll"].as_f64().unwrap();
            assert_close(nll, want["nll_sum"].as_f64().unwrap(), name);
            // The adapter made a difference larger than the tolerance.
            let base_nll = want["base_nll_sum"].as_f64().unwrap();
            assert!((nll - base_nll).abs() / base_nll > 5e-4, "{name}: adapter had no effect");
        }
    }
}

#[test]
fn merge_writes_a_model_with_peft_merged_logits() {
    for name in ADAPTERS {
        let g = golden(name);
        let base = root().join(g["base_model_dir"].as_str().unwrap());
        let tmp = tempfile::tempdir().unwrap();
        let out_dir = tmp.path().join("merged");
        let out = whet(&["merge", "--model", s(&base), "--adapter", s(&adapter_dir(name)), "--out", s(&out_dir)]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
            assert!(out_dir.join(f).is_file(), "{name}: merged dir lacks {f}");
        }
        let model = whet_models::CausalLm::load(&out_dir, DType::F32, &Device::Cpu).unwrap();
        let goldens = candle_core::safetensors::load(adapter_dir(name).join("golden.safetensors"), &Device::Cpu).unwrap();
        let ids = goldens["input_ids"].to_dtype(DType::U32).unwrap();
        let logits = model.forward(&ids, &mut model.new_cache()).unwrap();
        let expected = &goldens["logits_0"];
        let diff = (&logits - expected).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        let scale = expected.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff / scale < 1e-4, "{name}: merged logits {:.2e} from PEFT's", diff / scale);
        // Scoring the merged model gives PEFT's merged NLL.
        let (data, expected) = data_file(tmp.path(), &g);
        for (got, want) in score(&out_dir, None, &data).iter().zip(&expected) {
            assert_close(got["nll"].as_f64().unwrap(), want["nll_sum_merged"].as_f64().unwrap(), name);
        }
    }
}

#[test]
fn merge_refuses_to_overwrite_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keep.txt"), "precious").unwrap();
    let out = whet(&["merge", "--model", s(&root().join("tests/golden/models/llama")), "--adapter", s(&adapter_dir("llama_lora_r4")), "--out", s(tmp.path())]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    assert_eq!(std::fs::read_to_string(tmp.path().join("keep.txt")).unwrap(), "precious");
}

#[test]
fn adapter_for_another_base_is_refused_naming_the_tensor() {
    let out = whet(&["generate", "--model", s(&root().join("tests/golden/models/llama_mqa")), "--adapter", s(&adapter_dir("llama_lora_r4")), "--prompt", "x"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("adapter_model.safetensors") && err.contains("lora_") && err.contains("another size"), "{err}");
}

#[test]
fn unsupported_adapter_options_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["adapter_config.json", "adapter_model.safetensors"] {
        std::fs::copy(adapter_dir("llama_lora_r4").join(f), tmp.path().join(f)).unwrap();
    }
    let path = tmp.path().join("adapter_config.json");
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cfg["use_dora"] = true.into();
    std::fs::write(&path, cfg.to_string()).unwrap();
    let out = whet(&["generate", "--model", s(&root().join("tests/golden/models/llama")), "--adapter", s(tmp.path()), "--prompt", "x"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("use_dora"), "{err}");
}

#[test]
fn peft_loads_an_adapter_whet_wrote_and_scores_as_whet_does() {
    // tests/golden/adapters/whet_saved was written by `whet train`; reference/check_whet_adapter.py
    // loaded it with PEFT and recorded PEFT's NLLs.
    let dir = adapter_dir("whet_saved");
    let g: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).unwrap()).unwrap();
    assert_eq!(g["peft_parsed"]["scaling"].as_f64(), Some(2.0));
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("texts.jsonl");
    let texts = g["texts"].as_array().unwrap();
    let lines: Vec<String> = texts.iter().map(|t| serde_json::json!({"text": t["text"]}).to_string()).collect();
    std::fs::write(&data, lines.join("\n")).unwrap();
    let records = score(&root().join("tests/golden/models/llama"), Some(&dir), &data);
    for (got, want) in records.iter().zip(texts) {
        assert_eq!(got["n_tokens"], want["n_tokens"]);
        assert_close(got["nll"].as_f64().unwrap(), want["nll_sum"].as_f64().unwrap(), "whet_saved");
    }
}
