//! `dst (+)= beta · lhs · rhs` on f32 slices through the `gemm` crate, the kernel candle's CPU
//! matmul itself calls, for custom ops that need what `Tensor::matmul` cannot give: writing into a
//! buffer the op owns, and adding a product to one already there (`read_dst`), so a sum of
//! products costs no extra tensor and no elementwise pass (`lora_linear.rs`).
//!
//! With `accumulate = false` and `beta = 1` the call is candle's own (same kernel, threads and
//! scalars), so the result is bit-identical to `lhs.matmul(rhs)`.

use gemm::{gemm, Parallelism};

/// A row-major-addressed view of an f32 matrix: element `(i, j)` is `data[i * rs + j * cs]`, so a
/// transposed view is the same data with the strides swapped.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A contiguous `(rows, cols)` matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, rs: cols, cs: 1 }
    }

    /// The same matrix transposed (no copy).
    pub fn t(self) -> Self {
        Self { rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, ..self }
    }

    /// Whether every element the strides address lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0 || self.cols == 0 || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `dst = beta · lhs · rhs`, or `dst += beta · lhs · rhs` when `accumulate`; `dst` is the
/// contiguous `(lhs.rows, rhs.cols)` result.
///
/// # Panics
/// When the shapes disagree or a view addresses outside its slice.
#[allow(unsafe_code)]
pub fn matmul_into(dst: &mut [f32], accumulate: bool, lhs: MatRef<'_>, rhs: MatRef<'_>, beta: f32) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "matmul_into: inner dimensions {k} and {} differ", rhs.rows);
    assert_eq!(dst.len(), m * n, "matmul_into: destination holds {} elements, not {m}×{n}", dst.len());
    assert!(lhs.in_bounds() && rhs.in_bounds(), "matmul_into: a view addresses outside its data");
    if m == 0 || n == 0 {
        return;
    }
    let threads = candle_core::utils::get_num_threads();
    let parallelism = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: the asserts above keep every element gemm reads or writes inside the slices (all
    // strides are non-negative and bounded by the checked extents); `dst` is borrowed mutably,
    // so it aliases neither operand.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            beta,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn a_product_equals_candles_matmul_and_accumulates_with_a_scale() {
        let dev = Device::Cpu;
        let (m, k, n) = (37, 70, 19);
        let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, (k, n), &dev).unwrap();
        let (xv, wv, bv) = (x.flatten_all().unwrap().to_vec1::<f32>().unwrap(), w.flatten_all().unwrap().to_vec1::<f32>().unwrap(), b.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        let mut dst = vec![0f32; m * n];
        // x · wᵀ through the transposed view: bit-identical to candle's matmul.
        matmul_into(&mut dst, false, MatRef::new(&xv, m, k), MatRef::new(&wv, n, k).t(), 1.0);
        let reference = x.matmul(&w.t().unwrap()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(dst, reference);
        // += 0.5 · x · b
        matmul_into(&mut dst, true, MatRef::new(&xv, m, k), MatRef::new(&bv, k, n), 0.5);
        let expected = (x.matmul(&w.t().unwrap()).unwrap() + (x.matmul(&b).unwrap() * 0.5).unwrap()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let d = dst.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(d < 1e-4, "{d}");
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn a_view_past_its_data_is_refused() {
        let data = vec![0f32; 6];
        let mut dst = vec![0f32; 4];
        matmul_into(&mut dst, false, MatRef::new(&data, 2, 4), MatRef::new(&data, 4, 2), 1.0);
    }
}
