//! `whet train` with `method = "dpo"` end to end on the golden tiny llama and the DPO goldens'
//! pairs: a run writes `adapter/`, metrics with TRL's reward names and an evaluation; continuing
//! from an adapter starts at the reference (or not, with `reference = "base"`); full fine-tuning
//! writes `model/`; resuming and precomputed reference log-probs reproduce the uninterrupted
//! losses; bad inputs (identical answers, no prompt, an SFT record, a reference that does not fit
//! the run) are refused naming the file and line or the config.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{root, s, whet};
use serde_json::Value;

fn fails(out: Output) -> String {
    assert!(!out.status.success(), "whet succeeded: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn succeeds(out: Output) {
    assert!(out.status.success(), "whet failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn pairs() -> PathBuf {
    root().join("tests/golden/dpo/pairs.jsonl")
}

/// Writes a dpo config training on `train` into `dir/run`; `extra` is appended.
fn config(dir: &Path, train: &Path, extra: &str) -> PathBuf {
    let text = format!(
        "method = \"dpo\"\nmodel = \"{model}\"\noutput_dir = \"{out}\"\n\n[data]\ntrain = \"{train}\"\nvalid = \"{train}\"\n\n{extra}",
        model = root().join("tests/golden/models/llama").display(),
        out = dir.join("run").display(),
        train = train.display(),
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const LORA: &str = "[lora]\nr = 4\nalpha = 8\n\n[train]\nmax_steps = 3\nmicro_batch_size = 4\nlr = 1e-3\n";

fn metrics(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn dpo_run_writes_an_adapter_and_reward_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &pairs(), &format!("{LORA}\n[dpo]\nloss = \"sigmoid\"\nbeta = 0.1\nmax_length = 64\n"));
    succeeds(whet(&["train", s(&cfg), "--quiet"]));
    let run = dir.path().join("run");
    assert!(run.join("adapter/adapter_model.safetensors").is_file());
    assert!(run.join("adapter/adapter_config.json").is_file());
    let m = metrics(&run);
    let steps: Vec<&Value> = m.iter().filter(|v| v.get("loss").is_some()).collect();
    assert_eq!(steps.len(), 3);
    for key in ["rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected", "grad_norm"] {
        assert!(steps[0][key].is_number(), "{key} missing: {}", steps[0]);
    }
    // Step 1 starts from the fresh adapter (B = 0): policy = reference, loss = ln 2.
    assert!((steps[0]["loss"].as_f64().unwrap() - std::f64::consts::LN_2).abs() < 1e-5, "{}", steps[0]);
    let eval = m.iter().find(|v| v.get("eval_loss").is_some()).expect("an evaluation");
    assert!(eval["eval_rewards/accuracies"].is_number(), "{eval}");

    // Continue from that adapter: the reference is a frozen copy of it, so the first step is at
    // zero margin again; with `reference = "base"` it is not; SimPO needs no reference.
    let adapter = run.join("adapter");
    for (extra, starts_at_ln2) in [("", true), ("reference = \"base\"\n", false), ("loss = \"simpo\"\nbeta = 2.0\n", false)] {
        let dir2 = tempfile::tempdir().unwrap();
        let cfg = config(dir2.path(), &pairs(), &format!("{LORA}\n[dpo]\nmax_length = 64\nadapter = \"{}\"\n{extra}", adapter.display()));
        succeeds(whet(&["train", s(&cfg), "--quiet"]));
        assert!(dir2.path().join("run/adapter/adapter_model.safetensors").is_file());
        let first = metrics(&dir2.path().join("run"))[0]["loss"].as_f64().unwrap();
        assert_eq!((first - std::f64::consts::LN_2).abs() < 1e-6, starts_at_ln2, "{extra}: first loss {first}");
    }
}

fn step_losses(run: &Path) -> Vec<f64> {
    metrics(run).iter().filter_map(|v| v.get("loss").and_then(Value::as_f64)).collect()
}

#[test]
fn full_fine_tuning_dpo_writes_a_model_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let train = "[train]\nmax_steps = 4\nmicro_batch_size = 2\nlr = 1e-4\nsave_every = 2\n\n[dpo]\nmax_length = 64\n";
    let cfg = config(dir.path(), &pairs(), train);
    succeeds(whet(&["train", s(&cfg), "--quiet"]));
    let run = dir.path().join("run");
    assert!(run.join("model/model.safetensors").is_file() && run.join("model/config.json").is_file());
    let whole = step_losses(&run);
    assert_eq!(whole.len(), 4);
    // The reference is the starting model: the first step is at zero margin.
    assert!((whole[0] - std::f64::consts::LN_2).abs() < 1e-6, "{whole:?}");

    // Stopped after 2 steps and resumed; and with the reference scored once up front.
    let dir2 = tempfile::tempdir().unwrap();
    let cfg2 = config(dir2.path(), &pairs(), train);
    succeeds(whet(&["train", s(&cfg2), "--quiet", "--stop-after", "2"]));
    succeeds(whet(&["train", s(&cfg2), "--quiet", "--resume"]));
    let dir3 = tempfile::tempdir().unwrap();
    let cfg3 = config(dir3.path(), &pairs(), &format!("{train}precompute_reference = true\n"));
    succeeds(whet(&["train", s(&cfg3), "--quiet"]));
    for (name, other) in [("resumed", step_losses(&dir2.path().join("run"))), ("precomputed", step_losses(&dir3.path().join("run")))] {
        assert_eq!(other.len(), whole.len(), "{name}");
        for (a, b) in whole.iter().zip(&other) {
            assert!((a - b).abs() < 1e-5, "{name}: {other:?} vs {whole:?}");
        }
    }
}

#[test]
fn bad_preference_records_are_refused_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(pairs()).unwrap().lines().next().unwrap().to_string();
    let cases = [
        (
            r#"{"prompt": [{"role": "user", "content": "Hi?"}], "chosen": [{"role": "assistant", "content": "Same."}], "rejected": [{"role": "assistant", "content": "Same."}]}"#,
            "identical",
        ),
        (r#"{"chosen": [{"role": "assistant", "content": "A."}], "rejected": [{"role": "assistant", "content": "B."}]}"#, "prompt"),
        (r#"{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}"#, "not a preference pair"),
    ];
    for (bad, expect) in cases {
        let train = dir.path().join("train.jsonl");
        std::fs::write(&train, format!("{good}\n{bad}\n")).unwrap();
        let _ = std::fs::remove_dir_all(dir.path().join("run"));
        let err = fails(whet(&["train", s(&config(dir.path(), &train, LORA)), "--quiet"]));
        assert!(err.contains("train.jsonl:2") && err.contains(expect), "{expect}: {err}");
    }
}

#[test]
fn a_reference_that_does_not_fit_the_run_and_preference_data_for_sft_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(whet(&["train", s(&config(dir.path(), &pairs(), "[dpo]\nreference = \"base\"\n")), "--quiet"]));
    assert!(err.contains("dpo.reference") && err.contains("[lora]"), "{err}");
    let err = fails(whet(&["train", s(&config(dir.path(), &pairs(), &format!("{LORA}\n[dpo]\nreference_model = \"x\"\n"))), "--quiet"]));
    assert!(err.contains("dpo.reference_model"), "{err}");
    let cfg = config(dir.path(), &pairs(), LORA);
    let text = std::fs::read_to_string(&cfg).unwrap().replace("method = \"dpo\"", "method = \"sft\"");
    std::fs::write(&cfg, text).unwrap();
    let err = fails(whet(&["train", s(&cfg), "--quiet"]));
    assert!(err.contains("pairs.jsonl:1") && err.contains("method = \"dpo\""), "{err}");
}

#[test]
fn the_example_dpo_config_runs_and_counts_held_out_pairs_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = root().join("configs/dpo-lora.toml");
    succeeds(whet(&["train", s(&config), "--quiet", "--set", &format!("output_dir={}", s(&out)), "--set", "train.epochs=1"]));
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // 8 pairs, valid_fraction 0.25: 6 train, 2 held out.
    assert_eq!(summary["train"]["records"], 6);
    assert_eq!(summary["valid"]["records"], 2);
    assert!(out.join("adapter/adapter_model.safetensors").is_file());
}
