//! `RowAdapters`: which LoRA adapter each row of a batched decoding step uses, so one forward
//! pass serves requests for different adapters of one base model (LoRAX's and vLLM's
//! multi-LoRA batching). The base weights are read once for the whole batch; each run of rows
//! adds its own adapter's low-rank term ([`Proj::forward_runs`]).

use candle_core::Tensor;

use crate::error::Result;
use crate::proj::{Lora, Proj};

/// One adapter's updates, per projection in [`crate::CausalLm::projections`] order (`None`
/// where it does not target that projection).
pub type AdapterWeights = [Option<Lora>];

/// The rows of a batch in consecutive runs, each with one adapter or none (the base model).
#[derive(Debug, Clone, Default)]
pub struct RowAdapters<'a> {
    runs: Vec<(usize, Option<&'a AdapterWeights>)>,
}

impl<'a> RowAdapters<'a> {
    /// Runs of `(rows, adapter)`, in row order.
    pub fn new(runs: Vec<(usize, Option<&'a AdapterWeights>)>) -> Self {
        Self { runs }
    }

    pub fn rows(&self) -> usize {
        self.runs.iter().map(|r| r.0).sum()
    }

    /// `proj`, the `index`-th of the model's projections (`None`: one no adapter can target,
    /// such as a tied LM head), over `x`'s rows, each run with its adapter's update for it.
    pub fn project(&self, proj: &Proj, index: Option<usize>, x: &Tensor) -> Result<Tensor> {
        let runs: Vec<(usize, Option<&Lora>)> = self
            .runs
            .iter()
            .map(|&(n, set)| (n, set.zip(index).and_then(|(s, i)| s.get(i)).and_then(Option::as_ref)))
            .collect();
        proj.forward_runs(x, &runs)
    }
}
