//! `whet quickstart` end to end, shortened with `--max-steps`, `--dpo-max-steps` and
//! `--max-questions`: the bundled model and data are written out, SFT, AI-feedback pairs and DPO
//! run, the three models are evaluated, and even a few LoRA steps lower the validation
//! perplexity. (The full run's figures are in `docs/benchmarks.md`.)

mod common;

use common::{s, whet};
use serde_json::Value;

#[test]
fn quickstart_fine_tunes_the_bundled_model_and_reports_before_and_after() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("qs");
    let run = whet(&["quickstart", "--out", s(&out), "--max-steps", "4", "--dpo-max-steps", "2", "--max-questions", "12", "--quiet"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    for line in ["validation perplexity", "exact match, test questions", "SFT + DPO", "reference:", "DPO reward accuracy on"] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    for file in [
        "base-model/model.safetensors", "data/test.jsonl", "sft/adapter/adapter_model.safetensors", "sft/loss.png",
        "data/prefs-train.jsonl", "data/prefs-valid.jsonl", "dpo/adapter/adapter_model.safetensors", "dpo/metrics.jsonl", "quickstart.json",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("quickstart.json")).unwrap()).unwrap();
    assert_eq!(report["sft"]["train_steps"], 4);
    assert_eq!(report["dpo"]["train_steps"], 2);
    let n = report["test_questions"].as_u64().unwrap() as usize;
    assert_eq!(n, 12);
    for variant in ["base", "fine_tuned", "dpo_tuned"] {
        assert_eq!(report[variant]["answers"].as_array().unwrap().len(), n, "{variant}");
    }
    // Every pair came from the SFT model's own samples, judged against the reference answer.
    let pairs = std::fs::read_to_string(out.join("data/prefs-valid.jsonl")).unwrap();
    let held_out = pairs.lines().count();
    assert_eq!(report["dpo"]["held_out_pairs"], held_out);
    for line in pairs.lines() {
        let pair: Value = serde_json::from_str(line).unwrap();
        assert_eq!(pair["provenance"]["judge"], "reference");
        assert!(pair["provenance"]["f1_chosen"].as_f64() > pair["provenance"]["f1_rejected"].as_f64(), "{pair}");
    }
    let accuracy = report["dpo"]["held_out_reward_accuracy"].as_f64().unwrap();
    let [low, high] = [0, 1].map(|i| report["dpo"]["reward_accuracy_interval_95"][i].as_f64().unwrap());
    assert!((0.0..=1.0).contains(&accuracy) && low <= accuracy && accuracy <= high, "{accuracy} [{low}, {high}]");
    let (base, tuned) = (&report["base"], &report["fine_tuned"]);
    let (pb, pt) = (base["valid_perplexity"].as_f64().unwrap(), tuned["valid_perplexity"].as_f64().unwrap());
    assert!(pt < pb, "fine-tuning did not lower validation perplexity: {pb} -> {pt}");
}

#[test]
fn quickstart_refuses_an_existing_output_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let run = whet(&["quickstart", "--out", s(tmp.path())]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
}

/// The full quickstart (several minutes on two cores; `cargo test --release -- --ignored`): DPO's
/// reward accuracy on held-out pairs is above chance with 95% confidence.
#[test]
#[ignore]
fn full_quickstart_dpo_beats_chance_on_held_out_pairs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("qs");
    let run = whet(&["quickstart", "--out", s(&out), "--quiet"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("quickstart.json")).unwrap()).unwrap();
    let low = report["dpo"]["reward_accuracy_interval_95"][0].as_f64().unwrap();
    assert!(low > 0.5, "{}", report["dpo"]);
}
