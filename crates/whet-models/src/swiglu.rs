//! The SwiGLU gate `silu(gate) ⊙ up` of the Llama MLP as one op with its backward pass.
//!
//! Composed from candle ops, it is two passes (silu, then the product) and keeps `silu(gate)`
//! alive for the product's backward, one `(tokens, intermediate)` tensor per layer, the widest
//! activation of the model. Fused, the forward is one pass and the backward recomputes the
//! sigmoid from `gate`: `d gate = g ⊙ up ⊙ (σ(gate)·(1 − silu(gate)) + silu(gate))`, `d up = g
//! ⊙ silu(gate)`, both written by one pass. Both passes do candle's operations in candle's
//! order (`silu = x / (1 + e⁻ˣ)`), so outputs and gradients equal the composed ones bit for bit
//! and training steps do not change.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_storage::f32_slice;

/// Elements per parallel task.
const CHUNK: usize = 1 << 13;

/// `silu(gate) ⊙ up` for f32 tensors of one shape on the CPU; composed from candle ops
/// otherwise (other dtypes, other devices).
pub fn swiglu(gate: &Tensor, up: &Tensor) -> candle_core::Result<Tensor> {
    let fused = gate.device().is_cpu() && gate.dtype() == candle_core::DType::F32 && up.dtype() == candle_core::DType::F32 && gate.shape() == up.shape();
    if !fused {
        return gate.silu()? * up;
    }
    gate.contiguous()?.apply_op2(&up.contiguous()?, SwiGlu)
}

struct SwiGlu;

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "swiglu"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (gate, up) = (f32_slice(s1, l1, self.name())?, f32_slice(s2, l2, self.name())?);
        let mut out = vec![0f32; gate.len()];
        out.par_chunks_mut(CHUNK).zip(gate.par_chunks(CHUNK).zip(up.par_chunks(CHUNK))).for_each(|(o, (g, u))| {
            for ((o, &g), &u) in o.iter_mut().zip(g).zip(u) {
                *o = g / (1.0 + (-g).exp()) * u;
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(&self, gate: &Tensor, up: &Tensor, _out: &Tensor, grad: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // Both gradients from one pass, stacked on a new leading axis and split as views.
        let both = gate.apply_op3(up, &grad.contiguous()?, SwiGluGrad)?;
        Ok((Some(both.get(0)?), Some(both.get(1)?)))
    }
}

/// `(gate, up, g)` to `[d gate, d up]`, shape `(2, ...)`.
struct SwiGluGrad;

impl CustomOp3 for SwiGluGrad {
    fn name(&self) -> &'static str {
        "swiglu-grad"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (gate, up, grad) = (f32_slice(s1, l1, self.name())?, f32_slice(s2, l2, self.name())?, f32_slice(s3, l3, self.name())?);
        let n = gate.len();
        let mut out = vec![0f32; 2 * n];
        let (d_gate, d_up) = out.split_at_mut(n);
        d_gate.par_chunks_mut(CHUNK).zip(d_up.par_chunks_mut(CHUNK)).zip(gate.par_chunks(CHUNK).zip(up.par_chunks(CHUNK)).zip(grad.par_chunks(CHUNK))).for_each(
            |((dg, du), ((g, u), gr))| {
                for ((((dg, du), &g), &u), &gr) in dg.iter_mut().zip(du).zip(g).zip(u).zip(gr) {
                    // candle's silu backward, operation for operation, so the gradients equal
                    // the composed ones bit for bit: σ·(1 − silu) + silu.
                    let silu = g / (1.0 + (-g).exp());
                    let sigmoid = 1.0 / ((-g).exp() + 1.0);
                    *dg = (gr * u) * (sigmoid * (1.0 - silu) + silu);
                    *du = gr * silu;
                }
            },
        );
        let mut dims = vec![2];
        dims.extend_from_slice(l1.dims());
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn forward_and_gradients_equal_the_composed_swiglu() {
        // Odd sizes, and more elements than one parallel chunk.
        for shape in [(1, 1, 1), (3, 7, 13), (2, 5, CHUNK / 3 + 1)] {
            let gate = Var::from_tensor(&Tensor::randn(0f32, 3.0, shape, &Device::Cpu).unwrap()).unwrap();
            let up = Var::from_tensor(&Tensor::randn(0f32, 1.0, shape, &Device::Cpu).unwrap()).unwrap();
            let w = Tensor::randn(0f32, 1.0, shape, &Device::Cpu).unwrap();
            let fused = swiglu(gate.as_tensor(), up.as_tensor()).unwrap();
            let composed = (gate.as_tensor().silu().unwrap() * up.as_tensor()).unwrap();
            let (f, c) = (fused.flatten_all().unwrap().to_vec1::<f32>().unwrap(), composed.flatten_all().unwrap().to_vec1::<f32>().unwrap());
            assert_eq!(f, c, "{shape:?}: the forward differs");
            let g1 = (fused * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (composed * &w).unwrap().sum_all().unwrap().backward().unwrap();
            for v in [&gate, &up] {
                let (a, b) = (g1.get(v.as_tensor()).unwrap(), g2.get(v.as_tensor()).unwrap());
                let (a, b) = (a.flatten_all().unwrap().to_vec1::<f32>().unwrap(), b.flatten_all().unwrap().to_vec1::<f32>().unwrap());
                assert!(a == b, "{shape:?}: a gradient differs from the composed one");
            }
        }
    }
}
