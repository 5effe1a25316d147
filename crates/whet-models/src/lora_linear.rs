//! A LoRA projection in training as one op: `y = x Wᵀ + scale · (x Aᵀ) Bᵀ` over a frozen weight
//! `W` (f32, or quantised for QLoRA), differentiable in `x`, `A` and `B`.
//!
//! Why it exists: composed from candle ops (frozen product, two matmuls, a scale, an add), each
//! adapted projection of a training step paid for a dozen passes over `(rows, out)` or
//! `(rows, in)` tensors beyond its matrix products: the scaled low-rank term and the sum in the
//! forward pass; in the backward pass the scaled gradient, two sums of `x`'s gradient, and
//! candle's gradient store, which fills a tensor with zeros and adds into it for every
//! gradient it stores (PyTorch's autograd has no such cost). Here both sums are gemm calls
//! that add into the buffer the first product wrote (`matmul_into`), and the op returns each
//! gradient in one buffer:
//!
//! - forward: `y = x Wᵀ` (the same gemm call as candle's matmul), `t = x Aᵀ`, `y += scale · t Bᵀ`;
//! - backward: `u = g B`, `dx = g W + scale · u A`, `dA = scale · uᵀ x`,
//!   `dB = scale · gᵀ t` with `t` kept from the forward pass (`rows × r`, small).
//!
//! `x`'s gradient is computed only when `x` is part of the graph (not for the first layer of a
//! LoRA run, whose input comes from the frozen embeddings). Dropout on the adapter's input
//! (`lora.dropout`) keeps the composed path.
//!
//! Passes without a graph over more rows than a decoding step's (a DPO reference holding a
//! frozen copy of the adapter, evaluation) use this op too: gemm's accumulate rounds
//! `scale · t Bᵀ` differently from the composed `(t Bᵀ) · scale` when the scale is not a power of
//! two, and a policy must score exactly what its reference scores at the same weights (step-0
//! margins of exactly 0; `proj.rs`'s `a_trained_adapter_and_a_frozen_copy_give_the_same_bits`).
//!
//! Checked against the composed path (forward and all three gradients) in the tests below and,
//! through `Proj`, by every LoRA golden test.

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use crate::cpu_storage::{f32_slice, storage_f32};
use crate::matmul_into::{matmul_into, MatRef};
use crate::quant::QuantizedWeight;

const NAME: &str = "lora-linear";

/// The frozen base weight `(out, in)`: a dense f32 tensor, or a quantised one dequantised for
/// each pass (so at most one projection's weight exists in f32 at a time, as in
/// `frozen_linear::quantized_linear`).
#[derive(Clone)]
pub enum BaseWeight {
    Dense(Tensor),
    Quantized(Arc<QuantizedWeight>),
}

impl BaseWeight {
    fn dense(&self) -> candle_core::Result<Tensor> {
        match self {
            Self::Dense(w) => w.contiguous(),
            Self::Quantized(q) => q.dequantize(),
        }
    }
}

struct LoraLinear {
    weight: BaseWeight,
    scale: f32,
    input_grad: bool,
    /// `x Aᵀ`, set by the forward pass for the backward pass.
    t: OnceLock<Vec<f32>>,
}

/// `x (rows, in) · Wᵀ + scale · (x Aᵀ) Bᵀ` with `A (r, in)` and `B (out, r)`; no gradient for `W`.
pub fn lora_linear(x: &Tensor, weight: BaseWeight, a: &Tensor, b: &Tensor, scale: f64) -> candle_core::Result<Tensor> {
    let op = LoraLinear { weight, scale: scale as f32, input_grad: x.track_op(), t: OnceLock::new() };
    x.contiguous()?.apply_op3(&a.contiguous()?, &b.contiguous()?, op)
}

impl CustomOp3 for LoraLinear {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, a, b) = (f32_slice(s1, l1, NAME)?, f32_slice(s2, l2, NAME)?, f32_slice(s3, l3, NAME)?);
        let ((rows, inp), (r, a_in), (out, b_r)) = (l1.shape().dims2()?, l2.shape().dims2()?, l3.shape().dims2()?);
        if a_in != inp || b_r != r {
            candle_core::bail!("{NAME}: x {:?}, A {:?} and B {:?} do not chain", l1.dims(), l2.dims(), l3.dims());
        }
        let weight = self.weight.dense()?;
        let (w_s, w_l) = weight.storage_and_layout();
        let w = storage_f32(&w_s, w_l, NAME)?;
        if w.len() != out * inp {
            candle_core::bail!("{NAME}: the weight has {} elements, not {out}×{inp}", w.len());
        }
        let x = MatRef::new(x, rows, inp);
        let mut y = vec![0f32; rows * out];
        matmul_into(&mut y, false, x, MatRef::new(w, out, inp).t(), 1.0);
        let mut t = vec![0f32; rows * r];
        matmul_into(&mut t, false, x, MatRef::new(a, r, inp).t(), 1.0);
        matmul_into(&mut y, true, MatRef::new(&t, rows, r), MatRef::new(b, out, r).t(), self.scale);
        // candle builds a new op value per call, so this forward pass is its only one.
        let _ = self.t.set(t);
        Ok((CpuStorage::F32(y), Shape::from((rows, out))))
    }

    fn bwd(&self, x: &Tensor, a: &Tensor, b: &Tensor, _y: &Tensor, grad: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let ((rows, inp), (r, _), (out, _)) = (x.dims2()?, a.dims2()?, b.dims2()?);
        let grad = grad.contiguous()?;
        let (x_s, x_l) = x.storage_and_layout();
        let (a_s, a_l) = a.storage_and_layout();
        let (b_s, b_l) = b.storage_and_layout();
        let (g_s, g_l) = grad.storage_and_layout();
        let x = MatRef::new(storage_f32(&x_s, x_l, NAME)?, rows, inp);
        let a = MatRef::new(storage_f32(&a_s, a_l, NAME)?, r, inp);
        let b = MatRef::new(storage_f32(&b_s, b_l, NAME)?, out, r);
        let g = MatRef::new(storage_f32(&g_s, g_l, NAME)?, rows, out);
        let scale = self.scale;

        let mut u = vec![0f32; rows * r];
        matmul_into(&mut u, false, g, b, 1.0);
        let u = MatRef::new(&u, rows, r);
        let dx = if self.input_grad {
            let weight = self.weight.dense()?;
            let (w_s, w_l) = weight.storage_and_layout();
            let w = MatRef::new(storage_f32(&w_s, w_l, NAME)?, out, inp);
            let mut dx = vec![0f32; rows * inp];
            matmul_into(&mut dx, false, g, w, 1.0);
            matmul_into(&mut dx, true, u, a, scale);
            Some(Tensor::from_vec(dx, (rows, inp), &candle_core::Device::Cpu)?)
        } else {
            None
        };
        let mut da = vec![0f32; r * inp];
        matmul_into(&mut da, false, u.t(), x, scale);
        let Some(t) = self.t.get() else {
            candle_core::bail!("{NAME}: backward before forward");
        };
        let mut db = vec![0f32; out * r];
        matmul_into(&mut db, false, g.t(), MatRef::new(t, rows, r), scale);
        let cpu = candle_core::Device::Cpu;
        Ok((dx, Some(Tensor::from_vec(da, (r, inp), &cpu)?), Some(Tensor::from_vec(db, (out, r), &cpu)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::QuantKind;
    use candle_core::{Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
    }

    /// The op against `x Wᵀ + ((x Aᵀ) Bᵀ) · scale` composed from candle ops, on odd sizes: the
    /// output and the gradients of `x`, `A` and `B` under a random upstream gradient.
    #[test]
    fn forward_and_gradients_equal_the_composed_projection() {
        let dev = Device::Cpu;
        for (rows, inp, out, r) in [(1, 7, 5, 1), (37, 70, 19, 4), (130, 96, 257, 16)] {
            let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (rows, inp), &dev).unwrap()).unwrap();
            let w = Tensor::randn(0f32, 0.2, (out, inp), &dev).unwrap();
            let a = Var::from_tensor(&Tensor::randn(0f32, 0.2, (r, inp), &dev).unwrap()).unwrap();
            let b = Var::from_tensor(&Tensor::randn(0f32, 0.2, (out, r), &dev).unwrap()).unwrap();
            let probe = Tensor::randn(0f32, 1.0, (rows, out), &dev).unwrap();
            let ours = lora_linear(x.as_tensor(), BaseWeight::Dense(w.clone()), a.as_tensor(), b.as_tensor(), 2.5).unwrap();
            let composed = (x.as_tensor().matmul(&w.t().unwrap()).unwrap()
                + (x.as_tensor().matmul(&a.as_tensor().t().unwrap()).unwrap().matmul(&b.as_tensor().t().unwrap()).unwrap() * 2.5).unwrap())
            .unwrap();
            assert!(max_diff(&ours, &composed) < 1e-5, "forward {rows}×{inp}→{out} r{r}: {}", max_diff(&ours, &composed));
            let g1 = (ours * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (composed * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            for (name, v) in [("x", &x), ("A", &a), ("B", &b)] {
                let (ours, reference) = (g1.get(v.as_tensor()).unwrap(), g2.get(v.as_tensor()).unwrap());
                let tolerance = 1e-5 * (1.0 + reference.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap());
                assert!(max_diff(ours, reference) < tolerance, "d{name} {rows}×{inp}→{out} r{r}: {}", max_diff(ours, reference));
            }
            assert!(g1.get(&w).is_none(), "no gradient for the frozen weight");
        }
    }

    #[test]
    fn an_input_outside_the_graph_gets_no_gradient_and_a_quantised_weight_gives_the_dense_result() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (9, 64), &dev).unwrap();
        let w = Tensor::randn(0f32, 0.2, (11, 64), &dev).unwrap();
        let a = Var::from_tensor(&Tensor::randn(0f32, 0.2, (4, 64), &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f32, 0.2, (11, 4), &dev).unwrap()).unwrap();
        let q = Arc::new(QuantizedWeight::quantize(&w, QuantKind::Nf4).unwrap());
        let dense = BaseWeight::Dense(q.dequantize().unwrap());
        let yq = lora_linear(&x, BaseWeight::Quantized(q), a.as_tensor(), b.as_tensor(), 2.0).unwrap();
        let yd = lora_linear(&x, dense, a.as_tensor(), b.as_tensor(), 2.0).unwrap();
        assert_eq!(yq.to_vec2::<f32>().unwrap(), yd.to_vec2::<f32>().unwrap());
        let grads = yq.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        assert!(grads.get(&x).is_none(), "x is not in the graph");
        assert!(grads.get(a.as_tensor()).is_some() && grads.get(b.as_tensor()).is_some());
    }
}
