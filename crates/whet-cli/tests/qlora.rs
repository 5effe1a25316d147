//! QLoRA end to end on the bundled base model (`assets/base-model`, pretrained, hidden 256) and
//! the quickstart data: 20 optimiser steps of LoRA SFT over an f32 base, an NF4 base and an int8
//! base, same seed and batches. The quantised runs' losses stay within a stated margin of the
//! f32 run's at every step and at the final validation; the adapters are written in the same
//! PEFT layout and load with `whet generate --adapter` / `whet score --adapter` on the
//! unquantised base, where they lower validation loss.
//!
//! The margins: quantisation changes the frozen base itself, so the runs differ from step 1 by
//! the base's quantisation error, and the adapters then learn over slightly different bases.
//! Measured on this run (losses fall from 9.3 to 5.3): NF4 within 1.4% of LoRA at every step
//! (0.02% at step 1), int8 within 0.1%. NF4 is allowed 5% per step and int8 1%: several times what
//! was measured (CPU thread counts change summation order), far below the loss's own 43% fall.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{root, s, whet};
use serde_json::Value;

fn ok(out: Output) -> String {
    assert!(out.status.success(), "whet failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run(dir: &Path, name: &str, quantize: Option<&str>) -> PathBuf {
    let data = root().join("assets/sample-data");
    let out = dir.join(name);
    let text = format!(
        "method = \"sft\"\nmodel = \"{model}\"\noutput_dir = \"{out}\"\nseed = 7\n\n\
         [data]\ntrain = \"{train}\"\nvalid = \"{valid}\"\nformat = \"messages\"\nmax_seq_len = 128\npacking = true\n\n\
         [lora]\nr = 16\nalpha = 32\n{quant}\n\
         [train]\nmax_steps = 20\nmicro_batch_size = 4\nlr = 5e-3\nwarmup_steps = 2\n",
        model = root().join("assets/base-model").display(),
        out = out.display(),
        train = data.join("train.jsonl").display(),
        valid = data.join("valid.jsonl").display(),
        quant = quantize.map(|q| format!("quantize = \"{q}\"\n")).unwrap_or_default(),
    );
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, text).unwrap();
    ok(whet(&["train", s(&config), "--quiet"]));
    out
}

fn step_losses(run: &Path) -> Vec<f64> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| v.get("loss").and_then(Value::as_f64))
        .collect()
}

fn final_valid_loss(run: &Path) -> f64 {
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    summary["final_valid_loss"].as_f64().unwrap()
}

#[test]
fn qlora_losses_stay_within_margin_of_lora_and_the_adapters_load_on_the_unquantised_base() {
    let dir = tempfile::tempdir().unwrap();
    let lora = run(dir.path(), "lora", None);
    let reference = step_losses(&lora);
    assert_eq!(reference.len(), 20);
    assert!(reference[19] < reference[0] * 0.8, "LoRA learns: {reference:?}");
    let base = root().join("assets/base-model");
    let valid = root().join("assets/sample-data/valid.jsonl");
    let score = |adapter: Option<&Path>| -> f64 {
        let mut args = vec!["score", "--model", s(&base), "--data", s(&valid), "--json"];
        if let Some(a) = adapter {
            args.extend(["--adapter", s(a)]);
        }
        let report: Value = serde_json::from_str(&ok(whet(&args))).unwrap();
        report["nll"].as_f64().unwrap() / report["n_tokens"].as_f64().unwrap()
    };
    let base_loss = score(None);
    for (kind, margin) in [("nf4", 0.05), ("int8", 0.01)] {
        let q = run(dir.path(), kind, Some(kind));
        let losses = step_losses(&q);
        assert_eq!(losses.len(), 20, "{kind}");
        for (step, (a, b)) in losses.iter().zip(&reference).enumerate() {
            assert!((a - b).abs() <= margin * b, "{kind} step {}: loss {a} vs LoRA {b} (margin {margin})", step + 1);
        }
        let (vq, vl) = (final_valid_loss(&q), final_valid_loss(&lora));
        assert!((vq - vl).abs() <= margin * vl, "{kind}: final validation loss {vq} vs LoRA {vl}");
        // The same PEFT adapter: identical adapter_config.json (PEFT records no quantisation
        // there; the base's quantisation is a property of how it was loaded), same tensor names.
        let cfg = |r: &Path| std::fs::read_to_string(r.join("adapter/adapter_config.json")).unwrap();
        assert_eq!(cfg(&q), cfg(&lora), "{kind}: adapter_config.json");
        let config_toml = std::fs::read_to_string(q.join("config.toml")).unwrap();
        assert!(config_toml.contains(&format!("quantize = \"{kind}\"")), "{kind}: the run records its quantisation");
        // Loads on the unquantised base: generation runs and validation loss is below the base's.
        let adapter = q.join("adapter");
        let out: Value = serde_json::from_str(&ok(whet(&[
            "generate", "--model", s(&base), "--adapter", s(&adapter), "--prompt", "What is the Rookery Mast?",
            "--max-new-tokens", "8", "--temperature", "0", "--json",
        ])))
        .unwrap();
        assert!(out.to_string().contains("token"), "{kind}: {out}");
        let tuned = score(Some(&adapter));
        assert!(tuned < base_loss * 0.9, "{kind}: validation loss {tuned} with the adapter vs base {base_loss}");
    }
}
