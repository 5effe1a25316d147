//! End-to-end tests of `whet data prep` on the generated corpus (`tests/corpus`): exact counts
//! per rule, the accounting identity, redaction, determinism across thread counts, and sharded
//! runs that merge to the same result as one run.

mod corpus;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use whet_data::prep::config::{OnError, PrepConfig};
use whet_data::prep::pipeline::{self, Shard};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lines(path: &Path) -> Vec<Value> {
    read(path).lines().map(|l| serde_json::from_str(l).expect("output line is JSON")).collect()
}

fn outputs(dir: &Path) -> BTreeMap<String, String> {
    ["train.jsonl", "valid.jsonl", "test.jsonl", "flags.jsonl"]
        .iter()
        .map(|f| (f.to_string(), read(&dir.join(f))))
        .collect()
}

fn run_in_pool(cfg: &PrepConfig, threads: usize) -> pipeline::Summary {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool")
        .install(|| pipeline::run(cfg, &|_| {}))
        .expect("prep runs")
}

#[test]
fn planted_corpus_gives_exact_counts_per_rule_and_the_identity_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let planted = corpus::generate(dir.path(), 1);
    let cfg = PrepConfig::load(&planted.config).expect("config is valid");
    let summary = run_in_pool(&cfg, 2);
    let st = &summary.stats;
    let got: BTreeMap<&str, u64> = st.dropped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let want: BTreeMap<&str, u64> = planted.dropped.iter().copied().collect();
    assert_eq!(got, want, "dropped per rule; examples: {:#?}", st.examples);
    assert_eq!(st.input, planted.input);
    assert_eq!(st.kept, planted.kept);
    assert!(st.identity_holds());

    // Every input record is in exactly one output.
    let out = &planted.out_dir;
    let kept_lines: usize = ["train.jsonl", "valid.jsonl", "test.jsonl"].iter().map(|f| lines(&out.join(f)).len()).sum();
    let rejects = lines(&out.join("rejects.jsonl"));
    assert_eq!(kept_lines as u64, planted.kept);
    assert_eq!(rejects.len() as u64 + kept_lines as u64, planted.input);
    for r in &rejects {
        assert!(r["rule"].is_string() && r["reason"].is_string() && r["line"].is_u64() && r["file"].is_string(), "{r}");
    }

    // PII: each type found once; the dropped card record is scrubbed in rejects too.
    for kind in ["email", "phone", "ip_address", "credit_card", "iban", "national_id", "secret", "url_credentials"] {
        assert_eq!(st.pii_found.get(kind).copied(), Some(planted.pii_per_type), "pii {kind}: {:?}", st.pii_found);
    }
    let all_out: String = ["train.jsonl", "valid.jsonl", "test.jsonl"].iter().map(|f| read(&out.join(f))).collect();
    for placeholder in ["<EMAIL>", "<PHONE>", "<IP_ADDRESS>", "<IBAN>", "<NATIONAL_ID>", "<SECRET>", "<URL_WITH_CREDENTIALS>"] {
        assert_eq!(all_out.matches(placeholder).count(), 1, "{placeholder}");
    }
    for secret in ["jane.doe@example.com", "4111 1111 1111 1111", "AKIAIOSFODNN7EXAMPLE", "s3cretpw", "123-45-6789"] {
        assert!(!all_out.contains(secret) && !read(&out.join("rejects.jsonl")).contains(secret), "{secret} leaked");
    }
    for text in &planted.must_keep_verbatim {
        assert!(all_out.contains(text.as_str()), "look-alike or repaired text missing: {text}");
    }
    // HTML was converted to text.
    assert!(!all_out.contains("<p>") && !all_out.contains("<body>"));
    // Policy flags are listed and kept.
    assert_eq!(lines(&out.join("flags.jsonl")).len() as u64, planted.flagged);
    assert_eq!(st.policy_flagged.get("mild_profanity").copied(), Some(planted.flagged));

    // Report, card and run record exist and state the identity.
    let report: Value = serde_json::from_str(&read(&out.join("report.json"))).expect("report json");
    assert_eq!(report["identity"]["holds"], true);
    assert!(read(&out.join("report.md")).contains("holds"));
    let card = read(&out.join("dataset_card.md"));
    assert!(card.contains("CC-BY-4.0") && card.contains("**not stated**"), "licence fields in the card");
    assert!(!out.join("kept.tmp").exists() && !out.join("train.jsonl.partial").exists());
}

#[test]
fn output_is_identical_for_one_and_two_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let planted = corpus::generate(dir.path(), 2);
    let mut cfg = PrepConfig::load(&planted.config).expect("config");
    let a = run_in_pool(&cfg, 1);
    let first = outputs(&a.out_dir);
    let rejects_first = read(&a.out_dir.join("rejects.jsonl"));
    cfg.out_dir = dir.path().join("out2");
    let b = run_in_pool(&cfg, 2);
    assert_eq!(first, outputs(&b.out_dir));
    assert_eq!(rejects_first, read(&b.out_dir.join("rejects.jsonl")));
    assert_eq!(a.stats, b.stats);
}

#[test]
fn sharded_runs_merge_to_the_same_splits_as_one_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let planted = corpus::generate(dir.path(), 3);
    let mut cfg = PrepConfig::load(&planted.config).expect("config");
    let single = pipeline::run(&cfg, &|_| {}).expect("single run");
    cfg.out_dir = dir.path().join("sharded");
    for i in 0..3 {
        pipeline::run_shard(&cfg, Shard { index: i, count: 3 }, &|_| {}).expect("shard");
    }
    let merged = pipeline::merge(&cfg, 3, &|_| {}).expect("merge");
    assert_eq!(outputs(&single.out_dir), outputs(&merged.out_dir));
    assert_eq!(single.stats.dropped, merged.stats.dropped);
    assert_eq!(single.stats.splits, merged.stats.splits);
    assert!(merged.stats.identity_holds());
}

#[test]
fn merge_names_the_missing_shard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let planted = corpus::generate(dir.path(), 4);
    let cfg = PrepConfig::load(&planted.config).expect("config");
    pipeline::run_shard(&cfg, Shard { index: 0, count: 2 }, &|_| {}).expect("shard 0");
    let err = pipeline::merge(&cfg, 2, &|_| {}).expect_err("shard 1 missing").to_string();
    assert!(err.contains("shard-1-of-2") && err.contains("--shard 1/2"), "{err}");
}

#[test]
fn on_error_fail_stops_at_the_first_malformed_line_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let planted = corpus::generate(dir.path(), 5);
    let mut cfg = PrepConfig::load(&planted.config).expect("config");
    cfg.on_error = OnError::Fail;
    let err = pipeline::run(&cfg, &|_| {}).expect_err("malformed line").to_string();
    // The first malformed line is the first after 300 base + 60 planted good/bad records.
    assert!(err.contains("chats.jsonl:") && err.contains("invalid JSON") && err.contains("on_error"), "{err}");
    assert!(!planted.out_dir.join("train.jsonl").exists(), "a failed run publishes no splits");
}

#[test]
fn a_different_seed_gives_different_splits_with_the_same_kept_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let planted = corpus::generate(dir.path(), 6);
    let mut cfg = PrepConfig::load(&planted.config).expect("config");
    let a = pipeline::run(&cfg, &|_| {}).expect("run a");
    let first = outputs(&a.out_dir);
    cfg.seed = 8;
    cfg.out_dir = dir.path().join("seed8");
    let b = pipeline::run(&cfg, &|_| {}).expect("run b");
    assert_eq!(a.stats.kept, b.stats.kept);
    assert_ne!(first["train.jsonl"], outputs(&b.out_dir)["train.jsonl"]);
}

#[test]
fn stratified_split_and_kfold_write_exact_strata_and_fold_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = corpus::Rng::new(9);
    let mut lines = Vec::new();
    for i in 0..200 {
        let cat = if i % 4 == 0 { "rare" } else { "common" };
        lines.push(serde_json::json!({"text": corpus::salad(&mut rng, 30), "category": cat}).to_string());
    }
    std::fs::write(dir.path().join("d.jsonl"), lines.join("\n")).expect("write");
    std::fs::write(
        dir.path().join("p.toml"),
        "out_dir = \"out\"\n[[sources]]\nname = \"d\"\npath = \"d.jsonl\"\n[split]\ntrain = 0.8\nvalid = 0.1\ntest = 0.1\nstratify_by = \"category\"\nkfold = 3\nparquet = true\n",
    )
    .expect("write");
    let cfg = PrepConfig::load(&dir.path().join("p.toml")).expect("config");
    let s = pipeline::run(&cfg, &|_| {}).expect("run");
    let out = dir.path().join("out");
    let count = |f: &str, cat: &str| read(&out.join(f)).lines().filter(|l| l.contains(&format!("\"category\":\"{cat}\""))).count();
    // rare: 50 records → 5 test, 5 valid; common: 150 → 15, 15.
    assert_eq!((count("test.jsonl", "rare"), count("valid.jsonl", "rare")), (5, 5));
    assert_eq!((count("test.jsonl", "common"), count("valid.jsonl", "common")), (15, 15));
    let folds: usize = (0..3).map(|f| read(&out.join(format!("train.fold-{f}.jsonl"))).lines().count()).sum();
    assert_eq!(folds, 160);
    for f in ["train.fold-0.parquet", "valid.parquet", "test.parquet"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let valid = whet_data::records::read_all_objects(&out.join("valid.parquet")).expect("parquet reads back");
    assert_eq!(valid.len(), 20);
    assert_eq!(s.stats.splits["train"].folds.iter().sum::<u64>(), 160);
    assert!(!out.join("train.jsonl").exists());
    // Running again without k-fold replaces the fold files with train.jsonl.
    let mut plain = cfg.clone();
    plain.split.kfold = 0;
    pipeline::run(&plain, &|_| {}).expect("plain run");
    assert!(out.join("train.jsonl").exists() && !out.join("train.fold-0.jsonl").exists());
    assert!(out.join("train.parquet").exists() && !out.join("train.fold-0.parquet").exists());
}
