//! Activation checkpointing per decoder layer, as transformers' `gradient_checkpointing_enable()`
//! (and Axolotl's `gradient_checkpointing: true`) does it: a checkpointed layer keeps only its
//! input for the backward pass; its intermediate activations, and candle's graph for them, are
//! dropped after the forward pass and recomputed from the saved input in the backward pass.
//!
//! Why it is hand-written: candle has no checkpointing. Here a layer becomes one [`CustomOp1`]
//! on the layer input `x`:
//!
//! - forward: the layer runs once on a leaf copy of `x` with its live parameters; the output is
//!   detached (which frees the graph and every intermediate) and becomes the op's output. The
//!   op holds only `x` (as its graph input), the layer (`Arc`s to the same weights), the RoPE
//!   angles and mask (constants of the step, shared with the other layers) and the LoRA dropout
//!   generator's state from before the layer ran.
//! - backward (`bwd(x, y, g)`): the layer runs again on a fresh leaf copy of `x`, with the
//!   dropout generator set back to that state (the same masks) and put back afterwards; then
//!   `Σ y' ⊙ g` is backpropagated inside the op. Its gradient for the leaf is the op's gradient
//!   for `x`; the gradients of the layer's trainable parameters (LoRA `A`/`B`, or every weight of
//!   the layer in full fine-tuning) go to a side store, [`CheckpointGrads`], because candle's
//!   outer backward only reaches what the op takes as input (`x`) and has no way to receive
//!   parameter gradients from a custom op. [`crate::CausalLm::backward`] merges the side store
//!   into the outer `GradStore`.
//!
//! Exactness: the forward and the recomputation run the same ops on the same values with the
//! same inputs tracked or untracked as the uncheckpointed layer (a projection picks its kernel
//! by whether its input is tracked, so a leaf copy stands in for a tracked `x`, and an untracked
//! `x` stays untracked), so `y' = y` bit for bit; `d(Σ y'⊙g)/dy' = 1·g = g` exactly, and the
//! layer's backward then runs the same ops in the same order as the uncheckpointed backward.
//! Losses and gradients are bit-identical with and without checkpointing (whet-train's
//! `tests/recipe_parity.rs` and `tests/dpo_parity.rs` check it). Running the forward on detached
//! parameters instead would build no graph at all, but the projections would then choose other
//! kernels (GEMV for few rows, candle's matmul instead of the frozen-weight op) and the outputs
//! could differ in their last bits from the recomputation's. Building the layer's graph and
//! dropping it at the layer's end holds one layer's intermediates at a time, which the
//! recomputation in the backward pass holds anyway (with their gradients), so the peak does not
//! move.
//!
//! The price: each checkpointed layer's forward runs twice per step (about a third more matmul
//! work for LoRA, a quarter for full fine-tuning), one leaf copy of its input per pass, and one
//! copy of its output into the op's storage (a custom op returns new storage). CPU only (the op has no CUDA kernel); a layer that has
//! nothing to differentiate, or whose parameters are computed tensors rather than variables (the
//! side store can only deliver a variable's gradient), runs uncheckpointed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor, TensorId, Var};

use crate::attention::AttentionMask;
use crate::decoder::DecoderLayer;
use crate::error::Result;
use crate::proj::DropoutState;
use crate::rope::RopeAngles;

const NAME: &str = "checkpointed-decoder-layer";

/// Parameter gradients computed by checkpointed layers in a backward pass, waiting to be merged
/// into that pass's `GradStore` (by [`crate::CausalLm::backward`]). Shared by a model's clones.
#[derive(Debug, Clone, Default)]
pub struct CheckpointGrads(Arc<Mutex<HashMap<TensorId, (Tensor, Tensor)>>>);

impl CheckpointGrads {
    /// Adds `grad` to what is held for the variable `param`.
    fn add(&self, param: &Tensor, grad: Tensor) -> candle_core::Result<()> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let total = match held.remove(&param.id()) {
            Some((_, acc)) => (acc + grad)?,
            None => grad,
        };
        held.insert(param.id(), (param.clone(), total));
        Ok(())
    }

    /// Drops everything held (what an earlier backward pass left unmerged).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Moves everything held into `store`, adding to a gradient already there.
    pub fn merge_into(&self, store: &mut GradStore) -> Result<()> {
        let held = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        for (_, (param, grad)) in held {
            let total = match store.remove(&param) {
                Some(g) => (g + grad)?.detach(),
                None => grad,
            };
            store.insert(&param, total);
        }
        Ok(())
    }
}

/// Whether `layer` can run checkpointed on input `x`: something needs a gradient (the input or
/// a parameter), every tracked parameter is a variable, and the tensors live on the CPU.
pub(crate) fn applies(layer: &DecoderLayer, x: &Tensor) -> bool {
    let tensors = layer.tensors();
    let trained = tensors.iter().any(|t| t.track_op());
    let only_variables = tensors.iter().all(|t| !t.track_op() || t.is_variable());
    x.device().is_cpu() && (x.track_op() || trained) && only_variables
}

/// `layer` on `x` (`(batch, seq, hidden)`) with RoPE `angles` and attention `mask`, keeping only
/// `x` for the backward pass (see the module doc); parameter gradients go to `grads`. The
/// caller checks [`applies`] first.
pub(crate) fn checkpointed_layer(
    layer: &DecoderLayer,
    x: &Tensor,
    angles: &RopeAngles,
    mask: &AttentionMask,
    grads: &CheckpointGrads,
) -> Result<Tensor> {
    let op = CheckpointedLayer {
        layer: layer.clone(),
        angles: angles.clone(),
        mask: mask.clone(),
        input_tracked: x.track_op(),
        dropout: dropout_states(layer),
        output: Mutex::new(None),
        grads: grads.clone(),
    };
    // The graph of this run (every intermediate of the layer) is dropped with `y`'s tracked
    // handle at the end of the statement.
    let y = op.run(&op.leaf(x)?)?.detach();
    *op.output.lock().unwrap_or_else(PoisonError::into_inner) = Some(y);
    // An untracked `x` (the embeddings under LoRA) would give an untracked output, cutting the
    // layer's parameters off the loss: the op then hangs off a variable copy of it, whose
    // gradient it does not compute.
    let input = if x.track_op() { x.clone() } else { Var::from_tensor(x)?.into_inner() };
    Ok(input.apply_op1(op)?)
}

/// Every distinct LoRA dropout generator of `layer`, with a copy of its state now.
fn dropout_states(layer: &DecoderLayer) -> Vec<(Arc<Mutex<DropoutState>>, DropoutState)> {
    let mut out: Vec<(Arc<Mutex<DropoutState>>, DropoutState)> = Vec::new();
    for (_, proj) in layer.projections() {
        if let Some(d) = proj.lora.as_ref().and_then(|l| l.dropout.as_ref()) {
            if !out.iter().any(|(s, _)| Arc::ptr_eq(s, &d.state)) {
                let now = d.state.lock().unwrap_or_else(PoisonError::into_inner).clone();
                out.push((d.state.clone(), now));
            }
        }
    }
    out
}

/// Puts `states` into their generators and returns what they held.
fn swap_dropout(states: &[(Arc<Mutex<DropoutState>>, DropoutState)]) -> Vec<(Arc<Mutex<DropoutState>>, DropoutState)> {
    states
        .iter()
        .map(|(shared, state)| {
            let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
            (shared.clone(), std::mem::replace(&mut *s, state.clone()))
        })
        .collect()
}

struct CheckpointedLayer {
    /// A clone of the layer as it was in the forward pass (adapters swapped on the model
    /// afterwards, as DPO's reference pass does, do not change it).
    layer: DecoderLayer,
    angles: RopeAngles,
    mask: AttentionMask,
    /// Whether the layer input had a graph: then the layer runs on a tracked leaf and the op
    /// returns the input's gradient; otherwise on the untracked input, as without checkpointing.
    input_tracked: bool,
    /// The dropout generators' states before the forward pass.
    dropout: Vec<(Arc<Mutex<DropoutState>>, DropoutState)>,
    /// The forward's output until `cpu_fwd` takes it (so the op does not keep a second copy).
    output: Mutex<Option<Tensor>>,
    grads: CheckpointGrads,
}

impl CheckpointedLayer {
    /// The layer's input for a run: a tracked leaf holding `x`'s values, or `x` untracked.
    fn leaf(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.detach();
        Ok(if self.input_tracked { Var::from_tensor(&x)?.into_inner() } else { x })
    }

    fn run(&self, x: &Tensor) -> Result<Tensor> {
        // A cache of its own: training passes keep no cache, and the recomputation must not
        // append to one.
        let mut cache = crate::kv_cache::KvCache::new(1);
        self.layer.forward(x, &self.angles, &self.mask, &mut cache, 0)
    }

    /// The recomputation and its backward: the input's gradient, parameter gradients to the
    /// side store.
    fn backward(&self, x: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let leaf = self.leaf(x)?;
        let y = self.run(&leaf)?;
        let store = (y * grad)?.sum_all()?.backward()?;
        for p in self.layer.tensors() {
            if p.is_variable() {
                if let Some(g) = store.get(p) {
                    self.grads.add(p, g.detach())?;
                }
            }
        }
        Ok(if self.input_tracked { store.get(&leaf).map(Tensor::detach) } else { None })
    }
}

impl CustomOp1 for CheckpointedLayer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, _storage: &CpuStorage, _layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some(y) = self.output.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            candle_core::bail!("{NAME}: the forward pass runs once");
        };
        let shape = y.shape().clone();
        let flat = y.flatten_all()?;
        let storage = match y.dtype() {
            DType::F32 => CpuStorage::F32(flat.to_vec1()?),
            DType::BF16 => CpuStorage::BF16(flat.to_vec1()?),
            DType::F16 => CpuStorage::F16(flat.to_vec1()?),
            other => candle_core::bail!("{NAME}: unsupported activation dtype {other:?}"),
        };
        Ok((storage, shape))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        // The generators as the forward pass found them, for the same masks; their current state
        // (advanced by later layers and micro-batches) goes back afterwards.
        let current = swap_dropout(&self.dropout);
        let result = self.backward(x, grad);
        swap_dropout(&current);
        result.map_err(|e| candle_core::Error::Msg(format!("{NAME}: {e}")))
    }
}
