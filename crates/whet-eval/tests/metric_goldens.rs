//! ROUGE, BLEU and chrF against their reference implementations (rouge-score 0.1.2 with NLTK's
//! Porter stemmer, sacrebleu 2.6.0) on the goldens made by `reference/make_metric_goldens.py`
//! (`tests/golden/metrics/metrics.json`): every value within 1e-6 (ROUGE on 0-1, BLEU and chrF on
//! sacrebleu's 0-100 scale), tokens and NLTK Porter stems exactly. Each value test prints the
//! largest difference it saw.
//! The differences it prints (a few ulps) come from serde_json's default float parser, which is
//! not correctly rounded; the values themselves were bit-identical when compared in Python.

use std::path::Path;

use serde_json::Value;
use whet_eval::{
    corpus_bleu, corpus_chrf, exact_match, f1_score, normalize_answer, porter, sentence_bleu, sentence_chrf, tokenize_13a, BleuOptions, BleuScore, ChrfOptions,
    Rouge, RougeScore, Smoothing,
};

const TOLERANCE: f64 = 1e-6;

fn golden() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/metrics/metrics.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("golden file")).expect("golden JSON")
}

fn cases(g: &Value) -> &Vec<Value> {
    g["cases"].as_array().expect("cases")
}

fn text(v: &Value) -> &str {
    v.as_str().expect("string")
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().expect("list").iter().map(text).collect()
}

fn num(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

/// The largest absolute difference seen, and where.
struct Worst {
    metric: &'static str,
    diff: f64,
    at: String,
    compared: usize,
}

impl Worst {
    fn new(metric: &'static str) -> Worst {
        Worst { metric, diff: 0.0, at: String::new(), compared: 0 }
    }

    fn check(&mut self, ours: f64, reference: f64, at: impl FnOnce() -> String) {
        let diff = (ours - reference).abs();
        self.compared += 1;
        if diff > self.diff || diff.is_nan() {
            self.diff = diff;
            self.at = format!("{} (whet {ours}, reference {reference})", at());
        }
    }

    fn assert_within_tolerance(&self) {
        eprintln!("{}: {} values, max abs diff {:e} at {}", self.metric, self.compared, self.diff, self.at);
        assert!(self.compared > 0, "{}: nothing compared", self.metric);
        assert!(self.diff <= TOLERANCE, "{}: differs by {} at {}", self.metric, self.diff, self.at);
    }
}

fn check_rouge(worst: &mut Worst, ours: &RougeScore, reference: &Value, at: &str) {
    worst.check(ours.precision, num(&reference["precision"]), || format!("{at} precision"));
    worst.check(ours.recall, num(&reference["recall"]), || format!("{at} recall"));
    worst.check(ours.fmeasure, num(&reference["fmeasure"]), || format!("{at} fmeasure"));
}

#[test]
fn rouge_matches_rouge_score_with_and_without_stemming() {
    let g = golden();
    let mut worst = Worst::new("ROUGE-1/2/L/Lsum");
    for (mode, stem) in [("no_stem", false), ("stem", true)] {
        let rouge = Rouge::new(stem);
        for case in cases(&g) {
            let (id, hyp, refs) = (text(&case["id"]), text(&case["hypothesis"]), strings(&case["references"]));
            let ours = rouge.score_multi(hyp, &refs).expect("has references");
            let want = &case["rouge"][mode];
            let variants =
                [("rouge1", ours.rouge1), ("rouge2", ours.rouge2), ("rougeL", ours.rouge_l), ("rougeLsum", ours.rouge_lsum)];
            for (name, score) in variants {
                check_rouge(&mut worst, &score, &want[name], &format!("{id} {mode} {name}"));
            }
            if refs.len() == 1 {
                // With one reference, score_multi is score.
                assert_eq!(rouge.score(hyp, refs[0]), ours, "{id} {mode}");
            }
        }
    }
    worst.assert_within_tolerance();
}

#[test]
fn rouge_tokens_match_rouge_score_tokenizer_and_nltk_porter() {
    let g = golden();
    for (mode, stem) in [("no_stem", false), ("stem", true)] {
        let rouge = Rouge::new(stem);
        for case in cases(&g) {
            let want = strings(&case["rouge_tokens"][mode]);
            assert_eq!(rouge.tokenize(text(&case["hypothesis"])), want, "{} {mode}", text(&case["id"]));
        }
    }
}

#[test]
fn porter_stems_match_nltk_porter_stemmer_on_every_golden_word() {
    let g = golden();
    let pairs = g["porter"]["stems"].as_array().expect("porter stems");
    assert!(pairs.len() >= 300, "{} Porter words", pairs.len());
    let wrong: Vec<String> = pairs
        .iter()
        .map(|pair| (text(&pair[0]), text(&pair[1])))
        .filter(|(word, want)| porter::stem(word) != *want)
        .map(|(word, want)| format!("{word}: whet {:?}, nltk {want:?}", porter::stem(word)))
        .collect();
    let (n_wrong, n) = (wrong.len(), pairs.len());
    assert!(wrong.is_empty(), "{n_wrong} of {n} words stem differently:\n{}", wrong.join("\n"));
}

#[test]
fn rouge_stemmed_tokens_of_the_porter_words_match_rouge_score() {
    // All the words in one text: rouge-score's tokenizer splits at non-[a-z0-9] characters and
    // stems only tokens longer than three characters.
    let g = golden();
    let pairs = g["porter"]["stems"].as_array().expect("porter stems");
    let words: Vec<&str> = pairs.iter().map(|pair| text(&pair[0])).collect();
    let rouge = Rouge::new(true);
    assert_eq!(rouge.tokenize(&words.join(" ")), strings(&g["porter"]["rouge_tokens_stem"]));
}

#[test]
fn tokenize_13a_matches_sacrebleu() {
    let g = golden();
    for case in cases(&g) {
        let hyp = text(&case["hypothesis"]);
        // sacrebleu rstrips before tokenising; the golden holds that.
        let ours = tokenize_13a(hyp.trim_end_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)));
        assert_eq!(ours, text(&case["tokens_13a"]), "{}", text(&case["id"]));
    }
}

fn smoothing(name: &str) -> Smoothing {
    match name {
        "exp" => Smoothing::Exp,
        "none" => Smoothing::None,
        "floor" => Smoothing::Floor(0.1),
        "add-k" => Smoothing::AddK(1.0),
        other => panic!("unknown smoothing {other} in the golden"),
    }
}

fn check_bleu(worst: &mut Worst, ours: &BleuScore, want: &Value, at: &str, exact_counts: bool) {
    worst.check(ours.score, num(&want["score"]), || format!("{at} score"));
    worst.check(ours.brevity_penalty, num(&want["bp"]), || format!("{at} bp"));
    for (n, (p, w)) in ours.precisions.iter().zip(want["precisions"].as_array().expect("precisions")).enumerate() {
        worst.check(*p, num(w), || format!("{at} precision {}", n + 1));
    }
    assert_eq!(ours.sys_len as u64, want["sys_len"].as_u64().expect("sys_len"), "{at}");
    assert_eq!(ours.ref_len as u64, want["ref_len"].as_u64().expect("ref_len"), "{at}");
    if exact_counts {
        // add-k changes sacrebleu's counts in place, so only the other methods report raw counts.
        let ints = |v: &Value| -> Vec<usize> {
            v.as_array().expect("list").iter().map(|c| c.as_u64().expect("int") as usize).collect()
        };
        assert_eq!(ours.counts, ints(&want["counts"]), "{at} counts");
        assert_eq!(ours.totals, ints(&want["totals"]), "{at} totals");
    }
}

#[test]
fn sentence_bleu_matches_sacrebleu_for_every_smoothing() {
    let g = golden();
    let mut worst = Worst::new("sentence BLEU");
    for case in cases(&g) {
        let (id, hyp, refs) = (text(&case["id"]), text(&case["hypothesis"]), strings(&case["references"]));
        for (name, want) in case["sentence_bleu"].as_object().expect("smoothings") {
            let options = BleuOptions { smoothing: smoothing(name), ..BleuOptions::sentence() };
            let ours = sentence_bleu(hyp, &refs, &options).expect("bleu");
            check_bleu(&mut worst, &ours, want, &format!("{id} {name}"), name != "add-k");
        }
    }
    worst.assert_within_tolerance();
}

/// A golden corpus: its hypotheses and per-hypothesis references.
fn corpus<'a>(g: &'a Value, corpus: &'a Value) -> (Vec<&'a str>, Vec<Vec<&'a str>>) {
    let ids = strings(&corpus["case_ids"]);
    let by_id = |id: &str| cases(g).iter().find(|c| text(&c["id"]) == id).expect("case id in golden");
    let hyps = ids.iter().map(|id| text(&by_id(id)["hypothesis"])).collect();
    let refs = ids.iter().map(|id| strings(&by_id(id)["references"])).collect();
    (hyps, refs)
}

#[test]
fn corpus_bleu_matches_sacrebleu() {
    let g = golden();
    let mut worst = Worst::new("corpus BLEU");
    for c in g["corpora"].as_array().expect("corpora") {
        let name = text(&c["name"]);
        let (hyps, refs) = corpus(&g, c);
        for (method, want) in c["bleu"].as_object().expect("smoothings") {
            let options = BleuOptions { smoothing: smoothing(method), ..BleuOptions::corpus() };
            let ours = corpus_bleu(&hyps, &refs, &options).expect("bleu");
            check_bleu(&mut worst, &ours, want, &format!("{name} {method}"), method != "add-k");
        }
        let lowercase = corpus_bleu(&hyps, &refs, &BleuOptions { lowercase: true, ..BleuOptions::corpus() }).expect("bleu");
        check_bleu(&mut worst, &lowercase, &c["bleu_lowercase"], &format!("{name} lowercase"), true);
        let effective = corpus_bleu(&hyps, &refs, &BleuOptions::sentence()).expect("bleu");
        check_bleu(&mut worst, &effective, &c["bleu_effective_order"], &format!("{name} effective order"), true);
    }
    worst.assert_within_tolerance();
}

#[test]
fn sentence_chrf_and_chrf_plus_plus_match_sacrebleu() {
    let g = golden();
    let mut worst = Worst::new("sentence chrF/chrF++");
    for case in cases(&g) {
        let (id, hyp, refs) = (text(&case["id"]), text(&case["hypothesis"]), strings(&case["references"]));
        let chrf = sentence_chrf(hyp, &refs, &ChrfOptions::chrf()).expect("chrF");
        worst.check(chrf, num(&case["sentence_chrf"]), || format!("{id} chrF"));
        let chrf_pp = sentence_chrf(hyp, &refs, &ChrfOptions::chrf_plus_plus()).expect("chrF++");
        worst.check(chrf_pp, num(&case["sentence_chrf_pp"]), || format!("{id} chrF++"));
    }
    worst.assert_within_tolerance();
}

#[test]
fn corpus_chrf_matches_sacrebleu_for_every_option() {
    let g = golden();
    let mut worst = Worst::new("corpus chrF");
    let variants = [
        ("chrf", ChrfOptions::chrf()),
        ("chrf_pp", ChrfOptions::chrf_plus_plus()),
        ("chrf_lowercase", ChrfOptions { lowercase: true, ..ChrfOptions::chrf() }),
        ("chrf_whitespace", ChrfOptions { whitespace: true, ..ChrfOptions::chrf() }),
        ("chrf_eps_smoothing", ChrfOptions { eps_smoothing: true, ..ChrfOptions::chrf() }),
    ];
    for c in g["corpora"].as_array().expect("corpora") {
        let name = text(&c["name"]);
        let (hyps, refs) = corpus(&g, c);
        for (key, options) in &variants {
            let ours = corpus_chrf(&hyps, &refs, options).expect("chrF");
            worst.check(ours, num(&c[*key]), || format!("{name} {key}"));
        }
    }
    worst.assert_within_tolerance();
}

/// SQuAD exact match and F1 against torchmetrics 1.9.0's port of the SQuAD script
/// (`reference/make_squad_goldens.py`, `tests/golden/metrics/squad.json`): normalised texts and
/// exact match equal, F1 within 1e-6 (the reference computes in float32).
#[test]
fn squad_exact_match_and_f1_match_the_squad_script() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/metrics/squad.json");
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("golden file")).expect("golden JSON");
    for case in golden["cases"].as_array().expect("cases") {
        let (p, r) = (case["prediction"].as_str().expect("prediction"), case["reference"].as_str().expect("reference"));
        assert_eq!(normalize_answer(p), case["normalized_prediction"].as_str().expect("text"), "{p:?}");
        assert_eq!(normalize_answer(r), case["normalized_reference"].as_str().expect("text"), "{r:?}");
        assert_eq!(u64::from(exact_match(p, r)), case["exact_match"].as_u64().expect("0 or 1"), "{p:?} vs {r:?}");
        let f1 = case["f1"].as_f64().expect("f1");
        assert!((f1_score(p, r) - f1).abs() < 1e-6, "{p:?} vs {r:?}: {} vs {f1}", f1_score(p, r));
    }
}
