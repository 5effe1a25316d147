//! NF4 (with double-quantised scales) and LLM.int8 storage against bitsandbytes 0.50.2's own
//! output on small random matrices with odd sizes (`tests/golden/quant`, made by
//! `reference/make_quant_goldens.py`): codes bit-exact, dequantised values within float rounding.

use std::path::PathBuf;

use safetensors::{Dtype, SafeTensors};
use whet_models::quant::dynamic::DYNAMIC_CODE;
use whet_models::quant::int8::Int8;
use whet_models::quant::nf4::{self, DoubleQuantized, Nf4, NF4_CODE};

const CASES: &[&str] = &["small_3x70", "odd_17x33", "rows_24x192", "wide_17x1001", "special_9x71"];

fn golden() -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/quant/quant.safetensors");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn f32s(st: &SafeTensors, key: &str) -> Vec<f32> {
    let t = st.tensor(key).unwrap_or_else(|e| panic!("{key}: {e}"));
    assert_eq!(t.dtype(), Dtype::F32, "{key}");
    t.data().chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn bytes(st: &SafeTensors, key: &str) -> Vec<u8> {
    st.tensor(key).unwrap_or_else(|e| panic!("{key}: {e}")).data().to_vec()
}

fn shape(st: &SafeTensors, key: &str) -> (usize, usize) {
    let s = st.tensor(key).unwrap_or_else(|e| panic!("{key}: {e}")).shape().to_vec();
    (s[0], s[1])
}

/// Largest |a - b| relative to the largest |b|.
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

#[test]
fn code_tables_equal_bitsandbytes() {
    let data = golden();
    let st = SafeTensors::deserialize(&data).expect("golden");
    assert_eq!(f32s(&st, "nf4_code"), NF4_CODE.to_vec());
    assert_eq!(f32s(&st, "dynamic_code"), DYNAMIC_CODE.to_vec());
}

#[test]
fn nf4_codes_and_absmax_equal_bitsandbytes_quantize_4bit() {
    let data = golden();
    let st = SafeTensors::deserialize(&data).expect("golden");
    for c in CASES {
        let input = f32s(&st, &format!("{c}.input"));
        let (packed, absmax) = nf4::quantize(&input);
        assert_eq!(packed, bytes(&st, &format!("{c}.nf4.packed")), "{c}: packed codes");
        assert_eq!(absmax, f32s(&st, &format!("{c}.nf4.absmax")), "{c}: absmax");
        let mut out = vec![0f32; input.len()];
        nf4::dequantize_into(&packed, &absmax, &mut out);
        let d = rel_diff(&out, &f32s(&st, &format!("{c}.nf4.dequant")));
        assert!(d < 1e-6, "{c}: dequantised values differ by {d}");
    }
}

#[test]
fn nf4_double_quantisation_equals_bitsandbytes_compress_statistics() {
    let data = golden();
    let st = SafeTensors::deserialize(&data).expect("golden");
    for c in CASES {
        let input = f32s(&st, &format!("{c}.input"));
        let q = Nf4::quantize(&input);
        assert_eq!(q.packed, bytes(&st, &format!("{c}.nf4dq.packed")), "{c}: packed codes");
        // Exact nearest codes, as bitsandbytes' default (torch/CUDA) kernel picks them.
        assert_eq!(q.absmax.codes, bytes(&st, &format!("{c}.nf4dq.qabsmax_default")), "{c}: double-quantised codes");
        assert_eq!(q.absmax.absmax2, f32s(&st, &format!("{c}.nf4dq.absmax2")), "{c}: absmax of the 256-blocks");
        let offset = f32s(&st, &format!("{c}.nf4dq.offset"))[0];
        assert!((q.absmax.offset - offset).abs() <= 2.0 * f32::EPSILON * offset.abs(), "{c}: offset {} vs {offset}", q.absmax.offset);
        // bitsandbytes' CPU kernel differs in at most a code here and there, by one step of the
        // dynamic map (below 1% of the 256-block's absmax near 1, far less near 0).
        let cpu = DoubleQuantized {
            codes: bytes(&st, &format!("{c}.nf4dq.qabsmax")),
            absmax2: q.absmax.absmax2.clone(),
            offset: q.absmax.offset,
        };
        let (ours, theirs) = (q.absmax.dequantize(), cpu.dequantize());
        let step = q.absmax.absmax2.iter().fold(0f32, |m, v| m.max(*v)) * 0.015;
        assert!(ours.iter().zip(&theirs).all(|(a, b)| (a - b).abs() <= step), "{c}: scales more than one step apart");
        // Dequantised against bitsandbytes' dequantize_4bit of its own (CPU) state.
        let d = rel_diff(&q.dequantize(), &f32s(&st, &format!("{c}.nf4dq.dequant")));
        let codes_differ = q.absmax.codes != bytes(&st, &format!("{c}.nf4dq.qabsmax"));
        let tol = if codes_differ { 2e-2 } else { 1e-6 };
        assert!(d < tol, "{c}: dequantised values differ by {d} (tolerance {tol})");
        // And about 4.13 bits per value.
        assert!(q.bytes() * 8 < input.len() * 5, "{c}: {} bytes for {} values", q.bytes(), input.len());
    }
}

#[test]
fn int8_equals_bitsandbytes_int8_vectorwise_quant() {
    let data = golden();
    let st = SafeTensors::deserialize(&data).expect("golden");
    for c in CASES {
        let input = f32s(&st, &format!("{c}.input"));
        let (rows, cols) = shape(&st, &format!("{c}.input"));
        let q = Int8::quantize(&input, rows, cols);
        let cb: Vec<i8> = bytes(&st, &format!("{c}.int8.cb")).into_iter().map(|b| b as i8).collect();
        assert_eq!(q.cb, cb, "{c}: CB");
        assert_eq!(q.scb, f32s(&st, &format!("{c}.int8.scb")), "{c}: SCB");
        let d = rel_diff(&q.dequantize(), &f32s(&st, &format!("{c}.int8.dequant")));
        assert!(d < 1e-6, "{c}: dequantised values differ by {d}");
    }
}
