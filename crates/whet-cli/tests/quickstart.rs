//! `whet quickstart` end to end, shortened with `--max-steps`: the bundled model and data are
//! written out, the base and the fine-tuned model are evaluated, and even a few LoRA steps lower
//! the validation perplexity.

mod common;

use common::{s, whet};
use serde_json::Value;

#[test]
fn quickstart_fine_tunes_the_bundled_model_and_reports_before_and_after() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("qs");
    let run = whet(&["quickstart", "--out", s(&out), "--max-steps", "4", "--quiet"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    for line in ["validation perplexity", "exact match, test questions", "reference:", "fine-tuned:"] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    for file in ["base-model/model.safetensors", "data/test.jsonl", "sft/adapter/adapter_model.safetensors", "sft/loss.png", "quickstart.json"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("quickstart.json")).unwrap()).unwrap();
    assert_eq!(report["train_steps"], 4);
    let (base, tuned) = (&report["base"], &report["fine_tuned"]);
    let n = report["test_questions"].as_u64().unwrap() as usize;
    assert!(n > 0);
    assert_eq!(base["answers"].as_array().unwrap().len(), n);
    assert_eq!(tuned["answers"].as_array().unwrap().len(), n);
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
