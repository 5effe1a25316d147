//! 8-bit weights as bitsandbytes' LLM.int8 stores them (`Int8Params`: `CB` int8 and `SCB` the
//! row absmax, from `int8_vectorwise_quant` with threshold 0, bitsandbytes 0.50.2): each row of
//! the `(out, in)` weight is scaled by `127 / absmax(row)` and rounded half to even;
//! dequantising is `CB · SCB · (1/127)` (`int8_vectorwise_dequant`).
//!
//! Chosen over a blockwise int8 so that the stored form is the one PEFT/bitsandbytes users know
//! (`load_in_8bit`); the outlier decomposition of LLM.int8's matmul (threshold 6) is not
//! implemented: whet dequantises to f32 and multiplies in f32, so there is no int8 matmul whose
//! outliers need routing. A row of zeros (which bitsandbytes turns into NaN) stores zeros.

/// bitsandbytes' reciprocal of 127 in `int8_vectorwise_dequant`.
#[allow(clippy::excessive_precision)]
const INV_127: f32 = 7.874_015_718_698_502e-3;

#[derive(Debug, Clone, PartialEq)]
pub struct Int8 {
    pub rows: usize,
    pub cols: usize,
    /// Row-major int8 values (`CB`).
    pub cb: Vec<i8>,
    /// The absmax of each row (`SCB`).
    pub scb: Vec<f32>,
}

impl Int8 {
    /// Quantises a row-major `(rows, cols)` matrix.
    pub fn quantize(values: &[f32], rows: usize, cols: usize) -> Self {
        let mut cb = Vec::with_capacity(values.len());
        let mut scb = Vec::with_capacity(rows);
        for row in values.chunks(cols.max(1)).take(rows) {
            let am = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = 127.0 / am;
            cb.extend(row.iter().map(|v| if am > 0.0 { (v * s).round_ties_even() as i8 } else { 0 }));
            scb.push(am);
        }
        Self { rows, cols, cb, scb }
    }

    pub fn dequantize(&self) -> Vec<f32> {
        use rayon::prelude::*;
        let mut out = vec![0f32; self.cb.len()];
        out.par_chunks_mut(self.cols.max(1)).zip(self.cb.par_chunks(self.cols.max(1))).zip(&self.scb).for_each(|((o, q), &s)| {
            for (o, &q) in o.iter_mut().zip(q) {
                *o = f32::from(q) * s * INV_127;
            }
        });
        out
    }

    pub fn bytes(&self) -> usize {
        self.cb.len() + 4 * self.scb.len()
    }
}
