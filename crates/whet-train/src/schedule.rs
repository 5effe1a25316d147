//! Learning-rate schedules as transformers' `get_scheduler` defines them, so runs compare with
//! Trainer/TRL runs: linear warmup from 0 over `warmup_steps` (step 0 takes lr 0 when there is
//! warmup, as there), then constant, linear decay or cosine decay over the remaining steps —
//! towards `min_lr` rather than 0 when one is set (transformers' `cosine_with_min_lr`).

use std::f64::consts::PI;

use crate::config::{Schedule, TrainSection};

/// The learning rate of optimiser step `step` (0-based) of `total`.
pub fn learning_rate(cfg: &TrainSection, step: usize, total: usize) -> f64 {
    let warmup = cfg.warmup_steps;
    if step < warmup {
        return cfg.lr * step as f64 / warmup.max(1) as f64;
    }
    let decay_steps = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / decay_steps).min(1.0);
    let factor = match cfg.schedule {
        Schedule::Constant => return cfg.lr,
        Schedule::Linear => 1.0 - progress,
        Schedule::Cosine => 0.5 * (1.0 + (PI * progress).cos()),
    };
    cfg.min_lr + (cfg.lr - cfg.min_lr) * factor
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(schedule: Schedule, warmup: usize, min_lr: f64) -> TrainSection {
        TrainSection { lr: 1.0, min_lr, schedule, warmup_steps: warmup, ..Default::default() }
    }

    #[test]
    fn warmup_rises_linearly_from_zero() {
        let c = cfg(Schedule::Constant, 4, 0.0);
        let lrs: Vec<f64> = (0..6).map(|s| learning_rate(&c, s, 10)).collect();
        assert_eq!(lrs, [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]);
    }

    #[test]
    fn linear_and_cosine_decay_to_min_lr() {
        let lin = cfg(Schedule::Linear, 0, 0.0);
        assert_eq!(learning_rate(&lin, 5, 10), 0.5);
        let cos = cfg(Schedule::Cosine, 2, 0.1);
        assert!((learning_rate(&cos, 2, 12) - 1.0).abs() < 1e-12);
        assert!((learning_rate(&cos, 7, 12) - 0.55).abs() < 1e-12); // halfway: mid between 1 and 0.1
        assert!((learning_rate(&cos, 12, 12) - 0.1).abs() < 1e-12);
    }
}
