//! Percentile-bootstrap confidence interval for the mean of per-sample scores: resample the
//! samples with replacement, take each resample's mean, and read the interval off the sorted
//! means at the tails, as sacrebleu's `estimate_ci` does (for 1000 resamples at 95%: indices 25
//! and 974). Seeded (`StdRng`), so a report is reproducible with the same `rand` version.
//!
//! Not the BCa or studentised bootstrap. Corpus-level BLEU and chrF are not means of sentence
//! scores; their intervals need resampling of the segment statistics, which this does not do.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapOptions {
    pub resamples: usize,
    /// Coverage of the interval, in (0, 1).
    pub level: f64,
    pub seed: u64,
}

impl Default for BootstrapOptions {
    /// 1000 resamples, 95%, seed 12345 (sacrebleu's default `SACREBLEU_SEED`).
    fn default() -> BootstrapOptions {
        BootstrapOptions { resamples: 1000, level: 0.95, seed: 12345 }
    }
}

/// The sample mean and its bootstrap interval.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfidenceInterval {
    /// Mean of the scores themselves (not of the resamples).
    pub mean: f64,
    pub lower: f64,
    pub upper: f64,
    pub level: f64,
    pub resamples: usize,
}

/// Bootstrap interval for the mean of `scores` (at least one finite score).
pub fn bootstrap_mean_ci(scores: &[f64], options: &BootstrapOptions) -> Result<ConfidenceInterval> {
    check_scores("bootstrap interval", scores)?;
    check_probability("bootstrap interval", "level", options.level)?;
    if options.resamples == 0 {
        return Err(Error::OptionTooSmall { metric: "bootstrap interval", option: "resamples", value: 0, min: 1 });
    }
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut means: Vec<f64> = (0..options.resamples).map(|_| resample_mean(scores, &mut rng)).collect();
    means.sort_by(f64::total_cmp);
    // The small offset keeps e.g. 1000 * (1 - 0.9) / 2 = 49.999... from flooring to 49.
    let tail = ((options.resamples as f64) * (1.0 - options.level) / 2.0 + 1e-9).floor() as usize;
    let tail = tail.min((options.resamples - 1) / 2);
    Ok(ConfidenceInterval {
        mean: mean(scores),
        lower: means[tail],
        upper: means[options.resamples - 1 - tail],
        level: options.level,
        resamples: options.resamples,
    })
}

/// Bootstrap interval for a ratio of sums, `sum(num) / sum(den)` over samples resampled as
/// pairs: a token-weighted mean such as NLL per token (`num` = summed NLL of a record, `den` its
/// token count). With `den` all 1 this is [`bootstrap_mean_ci`], resample for resample.
pub fn bootstrap_ratio_ci(num: &[f64], den: &[f64], options: &BootstrapOptions) -> Result<ConfidenceInterval> {
    check_scores("bootstrap interval", num)?;
    check_scores("bootstrap interval", den)?;
    if num.len() != den.len() {
        return Err(Error::UnpairedScores { a: num.len(), b: den.len() });
    }
    check_probability("bootstrap interval", "level", options.level)?;
    if options.resamples == 0 {
        return Err(Error::OptionTooSmall { metric: "bootstrap interval", option: "resamples", value: 0, min: 1 });
    }
    let n = num.len();
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut ratios: Vec<f64> = (0..options.resamples)
        .map(|_| {
            let (mut a, mut b) = (0.0, 0.0);
            for _ in 0..n {
                let i = rng.random_range(0..n);
                a += num[i];
                b += den[i];
            }
            a / b
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let tail = ((options.resamples as f64) * (1.0 - options.level) / 2.0 + 1e-9).floor() as usize;
    let tail = tail.min((options.resamples - 1) / 2);
    Ok(ConfidenceInterval {
        mean: num.iter().sum::<f64>() / den.iter().sum::<f64>(),
        lower: ratios[tail],
        upper: ratios[options.resamples - 1 - tail],
        level: options.level,
        resamples: options.resamples,
    })
}

pub(crate) fn mean(scores: &[f64]) -> f64 {
    scores.iter().sum::<f64>() / scores.len() as f64
}

fn resample_mean(scores: &[f64], rng: &mut StdRng) -> f64 {
    let n = scores.len();
    (0..n).map(|_| scores[rng.random_range(0..n)]).sum::<f64>() / n as f64
}

pub(crate) fn check_scores(what: &'static str, scores: &[f64]) -> Result<()> {
    if scores.is_empty() {
        return Err(Error::NoScores { what });
    }
    match scores.iter().position(|s| !s.is_finite()) {
        Some(index) => Err(Error::NonFiniteScore { what, index, value: scores[index] }),
        None => Ok(()),
    }
}

pub(crate) fn check_probability(what: &'static str, name: &'static str, value: f64) -> Result<()> {
    if value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        Err(Error::NotAProbability { what, name, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_scores_give_a_zero_width_interval() -> Result<()> {
        let ci = bootstrap_mean_ci(&[0.7; 20], &BootstrapOptions::default())?;
        // Every resample holds the same 20 values, so every resample mean is the same float.
        assert_eq!(ci.upper - ci.lower, 0.0);
        assert!((ci.mean - 0.7).abs() < 1e-12 && (ci.lower - 0.7).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn interval_contains_the_mean_and_narrows_with_more_samples() -> Result<()> {
        // Alternating 0/1 scores: mean 0.5, standard error 0.5/sqrt(n); the 95% interval is
        // about +-1.96 standard errors: +-0.098 for n = 100, +-0.031 for n = 1000.
        let small: Vec<f64> = (0..100).map(|i| (i % 2) as f64).collect();
        let large: Vec<f64> = (0..1000).map(|i| (i % 2) as f64).collect();
        let o = BootstrapOptions::default();
        let (a, b) = (bootstrap_mean_ci(&small, &o)?, bootstrap_mean_ci(&large, &o)?);
        assert!(a.lower < 0.5 && 0.5 < a.upper);
        assert!((a.upper - a.lower - 2.0 * 0.098).abs() < 0.04, "{a:?}");
        assert!((b.upper - b.lower - 2.0 * 0.031).abs() < 0.015, "{b:?}");
        Ok(())
    }

    #[test]
    fn same_seed_same_interval() -> Result<()> {
        let scores = [0.1, 0.9, 0.4, 0.3, 0.8];
        let o = BootstrapOptions::default();
        assert_eq!(bootstrap_mean_ci(&scores, &o)?, bootstrap_mean_ci(&scores, &o)?);
        Ok(())
    }

    #[test]
    fn ratio_with_unit_weights_is_the_mean_interval() -> Result<()> {
        let scores = [0.1, 0.9, 0.4, 0.3, 0.8, 0.55];
        let o = BootstrapOptions::default();
        let (a, b) = (bootstrap_mean_ci(&scores, &o)?, bootstrap_ratio_ci(&scores, &[1.0; 6], &o)?);
        assert!((a.lower - b.lower).abs() < 1e-12 && (a.upper - b.upper).abs() < 1e-12 && (a.mean - b.mean).abs() < 1e-12);
        // Weighted: (1 + 9) / (1 + 3) = 2.5.
        let w = bootstrap_ratio_ci(&[1.0, 9.0], &[1.0, 3.0], &o)?;
        assert!((w.mean - 2.5).abs() < 1e-12 && w.lower >= 1.0 && w.upper <= 3.0);
        Ok(())
    }

    #[test]
    fn bad_input_is_an_error() {
        let o = BootstrapOptions::default();
        assert!(matches!(bootstrap_mean_ci(&[], &o), Err(Error::NoScores { .. })));
        assert!(matches!(bootstrap_mean_ci(&[1.0, f64::NAN], &o), Err(Error::NonFiniteScore { index: 1, .. })));
        let level = BootstrapOptions { level: 95.0, ..BootstrapOptions::default() };
        assert!(matches!(bootstrap_mean_ci(&[1.0], &level), Err(Error::NotAProbability { .. })));
        let zero = BootstrapOptions { resamples: 0, ..BootstrapOptions::default() };
        assert!(matches!(bootstrap_mean_ci(&[1.0], &zero), Err(Error::OptionTooSmall { .. })));
    }
}
