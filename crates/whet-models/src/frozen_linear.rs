//! `x · Wᵀ` against a frozen f32 weight, whose backward pass returns only the input's gradient
//! (`g · W`).
//!
//! Why it exists: candle's matmul backward computes the gradient of both operands whether or not
//! one is trainable, so LoRA training paid for a full weight gradient of every frozen projection
//! (a third of the step's matmul work, and a weight-sized buffer each) — measured before this
//! project as making stock LoRA as slow as full fine-tuning. The forward runs candle's own gemm
//! call (`matmul_into`), so results are bit-identical to `x.matmul(&w.t())`.
//!
//! [`quantized_linear`] is the same op over a quantised weight (QLoRA): the forward dequantises
//! the weight, multiplies and drops it; the backward dequantises it again for `g · W` rather
//! than keeping it from the forward, so a layer's f32 weight never outlives its product.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use std::sync::Arc;

use crate::cpu_storage::{f32_slice, storage_f32};
use crate::matmul_into::{matmul_into, MatRef};
use crate::quant::QuantizedWeight;

struct FrozenLinear {
    weight: Tensor,
}

/// `x (rows, in)` times the frozen `weight (out, in)` transposed, with no gradient for `weight`.
pub fn frozen_linear(x: &Tensor, weight: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(FrozenLinear { weight: weight.clone() })
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        product(f32_slice(storage, layout, self.name())?, layout, &self.weight.contiguous()?)
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.weight)?))
    }
}

/// `x (rows, in) · weight (out, in)ᵀ` for the forward passes: candle's own gemm call (so
/// bit-identical to `x.matmul(&w.t())`), written straight into the op's output storage.
fn product(x: &[f32], layout: &Layout, weight: &Tensor) -> candle_core::Result<(CpuStorage, Shape)> {
    let (rows, inp) = layout.shape().dims2()?;
    let (out, w_in) = weight.dims2()?;
    if w_in != inp {
        candle_core::bail!("frozen-linear: x {:?} and weight {:?} do not chain", layout.dims(), weight.dims());
    }
    let (w_s, w_l) = weight.storage_and_layout();
    let w = storage_f32(&w_s, w_l, "frozen-linear")?;
    let mut y = vec![0f32; rows * out];
    matmul_into(&mut y, false, MatRef::new(x, rows, inp), MatRef::new(w, out, inp).t(), 1.0);
    Ok((CpuStorage::F32(y), Shape::from((rows, out))))
}

struct QuantizedLinear {
    weight: Arc<QuantizedWeight>,
}

/// `x (rows, in)` times the dequantised `weight (out, in)` transposed, with no weight gradient.
pub fn quantized_linear(x: &Tensor, weight: &Arc<QuantizedWeight>) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(QuantizedLinear { weight: weight.clone() })
}

impl CustomOp1 for QuantizedLinear {
    fn name(&self) -> &'static str {
        "quantized-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        product(f32_slice(storage, layout, self.name())?, layout, &self.weight.dequantize()?)
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.weight.dequantize()?)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn forward_and_input_gradient_equal_matmul_and_the_weight_gets_none() {
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (5, 7), &Device::Cpu).unwrap()).unwrap();
        let w = Tensor::randn(0f32, 1.0, (3, 7), &Device::Cpu).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (5, 3), &Device::Cpu).unwrap();
        let ours = frozen_linear(x.as_tensor(), &w).unwrap();
        let reference = x.as_tensor().matmul(&w.t().unwrap()).unwrap();
        assert_eq!(ours.to_vec2::<f32>().unwrap(), reference.to_vec2::<f32>().unwrap());
        let g1 = (ours * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (reference * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let d = (g1.get(x.as_tensor()).unwrap() - g2.get(x.as_tensor()).unwrap()).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(d < 1e-6, "{d}");
        assert!(g1.get(&w).is_none(), "no gradient is computed for the frozen weight");
    }

    #[test]
    fn quantized_linear_equals_frozen_linear_on_the_dequantised_weight() {
        use crate::quant::{QuantKind, QuantizedWeight};
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (5, 130), &Device::Cpu).unwrap()).unwrap();
        let w = Tensor::randn(0f32, 0.1, (9, 130), &Device::Cpu).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (5, 9), &Device::Cpu).unwrap();
        for kind in [QuantKind::Nf4, QuantKind::Int8] {
            let q = Arc::new(QuantizedWeight::quantize(&w, kind).unwrap());
            let dense = q.dequantize().unwrap();
            let ours = quantized_linear(x.as_tensor(), &q).unwrap();
            let reference = frozen_linear(x.as_tensor(), &dense).unwrap();
            assert_eq!(ours.to_vec2::<f32>().unwrap(), reference.to_vec2::<f32>().unwrap(), "{kind:?}");
            let g1 = (ours * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (reference * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            let (a, b) = (g1.get(x.as_tensor()).unwrap(), g2.get(x.as_tensor()).unwrap());
            assert_eq!(a.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap(), "{kind:?}: input gradient");
        }
    }
}
