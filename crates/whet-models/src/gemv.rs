//! `x · Wᵀ` for a few rows of `x` against f32 or bf16 weights, in f32: the decoding step's
//! products.
//!
//! Why it exists: decoding at small batch is bound by reading the weights, and candle's CPU
//! matmul reads them more than once: gemm packs the weight matrix on every call (most of a
//! decoding step's time for f32 models of a few million parameters, measured with `perf`), and
//! for bf16 it first widens both operands to f32, which made bf16 decoding slower than f32
//! although it reads half the bytes. This kernel streams each weight row once (widening bf16 in
//! registers: a 16-bit shift) into f32 accumulators, parallel over output rows, vectorised for
//! the CPU's SIMD level through `pulp` (which gemm already uses). The result is f32, so the
//! caller adds a bias and rounds once, as PyTorch's `addmm` does.
//!
//! The backward pass is composed from candle ops, so a training graph through it never loses a
//! gradient.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use half::bf16;
use rayon::prelude::*;

/// Up to this many rows of `x`, [`gemv`] beats a GEMM.
pub const MAX_ROWS: usize = 16;

/// Output rows computed per parallel task.
const BLOCK: usize = 64;

struct Gemv;

/// `x (m, k)` (f32 or bf16) times `w (n, k)` (f32 or bf16) transposed: `(m, n)` in f32.
pub fn gemv(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, Gemv)
}

impl CustomOp2 for Gemv {
    fn name(&self) -> &'static str {
        "gemv"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (m, k) = xl.shape().dims2()?;
        let (n, wk) = wl.shape().dims2()?;
        if k != wk {
            candle_core::bail!("gemv: x has {k} columns, w has {wk}");
        }
        let (Some((xa, xb)), Some((wa, wb))) = (xl.contiguous_offsets(), wl.contiguous_offsets()) else {
            candle_core::bail!("gemv: inputs must be contiguous");
        };
        let x: Vec<f32> = match xs {
            CpuStorage::F32(v) => v[xa..xb].to_vec(),
            CpuStorage::BF16(v) => v[xa..xb].iter().map(|b| b.to_f32()).collect(),
            _ => candle_core::bail!("gemv: x must be f32 or bf16"),
        };
        match ws {
            CpuStorage::F32(w) => Ok(products(&x, &w[wa..wb], m, k, n)),
            CpuStorage::BF16(w) => Ok(products(&x, &w[wa..wb], m, k, n)),
            _ => candle_core::bail!("gemv: w must be f32 or bf16"),
        }
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad_x = grad.matmul(&w.to_dtype(grad.dtype())?)?.to_dtype(x.dtype())?;
        let grad_w = grad.t()?.matmul(&x.to_dtype(grad.dtype())?)?.to_dtype(w.dtype())?;
        Ok((Some(grad_x), Some(grad_w)))
    }
}

/// A weight element the kernel reads, widened to f32.
trait Widen: Copy + Sync {
    fn widen(self) -> f32;
}

impl Widen for f32 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
}

impl Widen for bf16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        f32::from_bits((self.to_bits() as u32) << 16)
    }
}

/// `x (m, k) · w (n, k)ᵀ` as `(m, n)` f32 storage.
fn products<W: Widen>(x: &[f32], w: &[W], m: usize, k: usize, n: usize) -> (CpuStorage, Shape) {
    // Computed as (n, m) so each task owns a contiguous slice, then transposed.
    let mut out_t = vec![0f32; n * m];
    out_t
        .par_chunks_mut(BLOCK * m)
        .enumerate()
        .for_each(|(block, out)| {
            // Compiled for the best SIMD level the CPU has (AVX2, AVX-512), chosen at run time.
            pulp::Arch::new().dispatch(|| {
                for (r, out_row) in out.chunks_mut(m).enumerate() {
                    let row = block * BLOCK + r;
                    let w_row = &w[row * k..(row + 1) * k];
                    for (i, o) in out_row.iter_mut().enumerate() {
                        *o = dot(w_row, &x[i * k..(i + 1) * k]);
                    }
                }
            })
        });
    let mut out = vec![0f32; m * n];
    for r in 0..n {
        for i in 0..m {
            out[i * n + r] = out_t[r * m + i];
        }
    }
    (CpuStorage::F32(out), Shape::from((m, n)))
}

/// f32 dot product of a weight row with an f32 vector. Sixteen independent accumulators let the
/// compiler vectorise the loop and hide the add latency.
#[inline(always)]
fn dot<W: Widen>(w: &[W], x: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let (wc, xc) = (w.chunks_exact(LANES), x.chunks_exact(LANES));
    let (w_tail, x_tail) = (wc.remainder(), xc.remainder());
    for (wb, xb) in wc.zip(xc) {
        for j in 0..LANES {
            acc[j] += wb[j].widen() * xb[j];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (a, b) in w_tail.iter().zip(x_tail) {
        sum += a.widen() * b;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    fn rand(shape: (usize, usize), seed: u64) -> Tensor {
        // Deterministic values in [-1, 1) without an RNG dependency in tests.
        let n = shape.0 * shape.1;
        let mut s = seed;
        let v: Vec<f32> = (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn gemv_equals_f32_matmul_of_f32_and_bf16_weights_on_odd_sizes() {
        for dtype in [DType::F32, DType::BF16] {
            for (m, k, n) in [(1, 37, 5), (3, 130, 67), (16, 64, 129)] {
                let x = rand((m, k), 1);
                let w = rand((n, k), 2).to_dtype(dtype).unwrap();
                let expected = x.matmul(&w.to_dtype(DType::F32).unwrap().t().unwrap()).unwrap();
                let got = gemv(&x, &w).unwrap();
                let diff = (got - expected).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(diff < 1e-4, "{dtype:?} {m}x{k}x{n}: {diff}");
            }
        }
    }

    #[test]
    fn gradients_flow_to_both_operands_like_matmul() {
        let x = Var::from_tensor(&rand((2, 24), 3)).unwrap();
        let w_f32 = rand((7, 24), 4).to_dtype(DType::BF16).unwrap().to_dtype(DType::F32).unwrap();
        let w = Var::from_tensor(&w_f32.to_dtype(DType::BF16).unwrap()).unwrap();
        let y = gemv(x.as_tensor(), w.as_tensor()).unwrap();
        let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        // Reference: the same loss through an f32 matmul.
        let x2 = Var::from_tensor(x.as_tensor()).unwrap();
        let w2 = Var::from_tensor(&w_f32).unwrap();
        let y2 = x2.as_tensor().matmul(&w2.as_tensor().t().unwrap()).unwrap();
        let grads2 = y2.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let close = |a: &Tensor, b: &Tensor, tol: f32| {
            let a = a.to_dtype(DType::F32).unwrap();
            let d = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(d < tol, "{d}");
        };
        close(grads.get(x.as_tensor()).unwrap(), grads2.get(x2.as_tensor()).unwrap(), 1e-4);
        // The weight gradient is returned in bf16, so compare at bf16 precision.
        close(grads.get(w.as_tensor()).unwrap(), grads2.get(w2.as_tensor()).unwrap(), 5e-2);
    }
}
