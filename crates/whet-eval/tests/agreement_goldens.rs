//! Cohen's and Fleiss' kappa against statsmodels 0.15.0, on the goldens made by
//! `reference/make_agreement_goldens.py` (`tests/golden/agreement/kappa.json`), within 1e-9.

use std::path::Path;

use serde_json::Value;
use whet_eval::agreement::{cohen_kappa, fleiss_kappa};

fn golden() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/agreement/kappa.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("golden file")).expect("golden JSON")
}

fn labels(v: &Value) -> Vec<String> {
    v.as_array().expect("a list of labels").iter().map(|x| x.as_str().expect("a label").to_string()).collect()
}

#[test]
fn cohen_kappa_matches_statsmodels() {
    let g = golden();
    for case in g["cohen"].as_array().unwrap() {
        let pairs: Vec<(String, String)> = labels(&case["a"]).into_iter().zip(labels(&case["b"])).collect();
        let k = cohen_kappa(&pairs).unwrap_or_else(|| panic!("{}: undefined", case["name"]));
        let want = case["kappa"].as_f64().unwrap();
        assert!((k.kappa - want).abs() < 1e-9, "{}: kappa {} vs statsmodels {want}", case["name"], k.kappa);
        assert!((k.observed - case["observed"].as_f64().unwrap()).abs() < 1e-12, "{}", case["name"]);
    }
}

#[test]
fn fleiss_kappa_matches_statsmodels() {
    let g = golden();
    for case in g["fleiss"].as_array().unwrap() {
        let items: Vec<Vec<String>> = case["labels"].as_array().unwrap().iter().map(labels).collect();
        let k = fleiss_kappa(&items).unwrap_or_else(|| panic!("{}: undefined", case["name"]));
        let want = case["kappa"].as_f64().unwrap();
        assert!((k.kappa - want).abs() < 1e-9, "{}: kappa {} vs statsmodels {want}", case["name"], k.kappa);
    }
}
