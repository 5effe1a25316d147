//! `x · Wᵀ` through a trained f32 weight (full fine-tuning) as one op whose backward pass writes
//! `dx = g · W` and `dW = gᵀ · x` with one gemm call each, `dW` directly in the weight's
//! `(out, in)` layout.
//!
//! Why it exists: through candle's ops the product is `x.matmul(&w.t())`, and its backward pass
//! computes the gradient of the transposed view `Wᵀ` as `xᵀ · g` (`(in, out)`), which the
//! transpose's backward then adds, element by element across strides, into a zero-filled
//! `(out, in)` tensor from candle's gradient store: two extra passes over every weight-sized
//! gradient per step, one of them strided. The forward pass is candle's own gemm call
//! (`matmul_into`), so outputs are bit-identical to `x.matmul(&w.t())`; gradients agree within
//! float rounding (another summation order), checked in the tests below and by the full
//! fine-tuning goldens against PyTorch.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use crate::cpu_storage::{f32_slice, storage_f32};
use crate::matmul_into::{matmul_into, MatRef};

const NAME: &str = "linear";

struct Linear {
    input_grad: bool,
}

/// `x (rows, in)` times `weight (out, in)` transposed, differentiable in both.
pub fn linear(x: &Tensor, weight: &Tensor) -> candle_core::Result<Tensor> {
    let op = Linear { input_grad: x.track_op() };
    x.contiguous()?.apply_op2(&weight.contiguous()?, op)
}

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, w) = (f32_slice(s1, l1, NAME)?, f32_slice(s2, l2, NAME)?);
        let ((rows, inp), (out, w_in)) = (l1.shape().dims2()?, l2.shape().dims2()?);
        if w_in != inp {
            candle_core::bail!("{NAME}: x {:?} and weight {:?} do not chain", l1.dims(), l2.dims());
        }
        let mut y = vec![0f32; rows * out];
        matmul_into(&mut y, false, MatRef::new(x, rows, inp), MatRef::new(w, out, inp).t(), 1.0);
        Ok((CpuStorage::F32(y), Shape::from((rows, out))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, grad: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let ((rows, inp), (out, _)) = (x.dims2()?, w.dims2()?);
        let grad = grad.contiguous()?;
        let (x_s, x_l) = x.storage_and_layout();
        let (w_s, w_l) = w.storage_and_layout();
        let (g_s, g_l) = grad.storage_and_layout();
        let xm = MatRef::new(storage_f32(&x_s, x_l, NAME)?, rows, inp);
        let wm = MatRef::new(storage_f32(&w_s, w_l, NAME)?, out, inp);
        let g = MatRef::new(storage_f32(&g_s, g_l, NAME)?, rows, out);
        let dx = if self.input_grad {
            let mut dx = vec![0f32; rows * inp];
            matmul_into(&mut dx, false, g, wm, 1.0);
            Some(Tensor::from_vec(dx, (rows, inp), x.device())?)
        } else {
            None
        };
        let dw = if w.track_op() {
            let mut dw = vec![0f32; out * inp];
            matmul_into(&mut dw, false, g.t(), xm, 1.0);
            Some(Tensor::from_vec(dw, (out, inp), w.device())?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn forward_equals_matmul_and_gradients_equal_its_gradients() {
        let dev = Device::Cpu;
        for (rows, inp, out) in [(1, 3, 2), (37, 70, 19), (130, 96, 257)] {
            let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (rows, inp), &dev).unwrap()).unwrap();
            let w = Var::from_tensor(&Tensor::randn(0f32, 0.2, (out, inp), &dev).unwrap()).unwrap();
            let probe = Tensor::randn(0f32, 1.0, (rows, out), &dev).unwrap();
            let ours = linear(x.as_tensor(), w.as_tensor()).unwrap();
            let reference = x.as_tensor().matmul(&w.as_tensor().t().unwrap()).unwrap();
            assert_eq!(ours.to_vec2::<f32>().unwrap(), reference.to_vec2::<f32>().unwrap());
            let g1 = (ours * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (reference * &probe).unwrap().sum_all().unwrap().backward().unwrap();
            for (name, v) in [("x", &x), ("W", &w)] {
                let (a, b) = (g1.get(v.as_tensor()).unwrap(), g2.get(v.as_tensor()).unwrap());
                let d = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                let scale = b.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap().max(1.0);
                assert!(d <= 1e-5 * scale, "d{name} {rows}×{inp}→{out}: {d}");
            }
        }
    }

    #[test]
    fn an_input_outside_the_graph_gets_no_gradient() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (5, 8), &dev).unwrap();
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.2, (3, 8), &dev).unwrap()).unwrap();
        let grads = linear(&x, w.as_tensor()).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(grads.get(&x).is_none());
        assert!(grads.get(w.as_tensor()).is_some());
    }
}
