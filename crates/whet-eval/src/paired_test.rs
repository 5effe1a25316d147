//! Whether two variants scored on the same samples differ: a two-sided paired permutation
//! (sign-flip) test on the per-sample differences, plus a bootstrap interval for the mean
//! difference. Under the null hypothesis that the variants are exchangeable, each difference
//! `b_i - a_i` is as likely to have the opposite sign; the p-value is the share of random sign
//! patterns whose |mean difference| is at least the observed one, with the usual +1 correction
//! (Phipson and Smyth 2010) so it is never 0. This is sacrebleu's `--paired-ar` (approximate
//! randomisation: swap the two outputs per sample) for a metric that is a mean of sample scores.
//!
//! Deviation from sacrebleu: it counts trials with a difference strictly greater than the
//! observed one, so two identical systems get p = 1/(trials + 1) and look significant; this
//! counts "at least as large" (within rounding), so identical variants get p = 1. sacrebleu's
//! `--paired-bs` (Koehn's paired bootstrap) has the same quirk, which is why it is not used here.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::bootstrap::{bootstrap_mean_ci, check_probability, check_scores, mean, BootstrapOptions, ConfidenceInterval};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct PairedTestOptions {
    /// Random sign patterns drawn for the p-value.
    pub permutations: usize,
    /// Resamples for the interval of the mean difference.
    pub bootstrap_resamples: usize,
    /// Significance level; the difference interval has coverage 1 - alpha.
    pub alpha: f64,
    pub seed: u64,
}

impl Default for PairedTestOptions {
    /// 10000 permutations (sacrebleu's `--paired-ar` default), 1000 bootstrap resamples,
    /// alpha 0.05, seed 12345.
    fn default() -> PairedTestOptions {
        PairedTestOptions { permutations: 10_000, bootstrap_resamples: 1000, alpha: 0.05, seed: 12345 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PairedTest {
    pub mean_a: f64,
    pub mean_b: f64,
    /// Interval for the mean of `b - a` (its `mean` is `mean_b - mean_a` up to rounding).
    pub difference: ConfidenceInterval,
    pub p_value: f64,
    pub alpha: f64,
    /// `p_value < alpha`.
    pub significant: bool,
}

/// Compares variant `b` with variant `a`; `a[i]` and `b[i]` score the same sample.
pub fn paired_permutation_test(a: &[f64], b: &[f64], options: &PairedTestOptions) -> Result<PairedTest> {
    if a.len() != b.len() {
        return Err(Error::UnpairedScores { a: a.len(), b: b.len() });
    }
    check_scores("paired test (variant A)", a)?;
    check_scores("paired test (variant B)", b)?;
    check_probability("paired test", "alpha", options.alpha)?;
    if options.permutations == 0 {
        return Err(Error::OptionTooSmall { metric: "paired test", option: "permutations", value: 0, min: 1 });
    }
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    let observed = diffs.iter().sum::<f64>().abs();
    // Two sums of the same terms in the same order with different signs can differ only by
    // rounding, at most about n * eps * sum|d| each: ties within that count as ties.
    let tolerance = 2.0 * diffs.len() as f64 * f64::EPSILON * diffs.iter().map(|d| d.abs()).sum::<f64>();
    let mut rng = StdRng::seed_from_u64(options.seed);
    let at_least_as_large = (0..options.permutations)
        .filter(|_| {
            let flipped: f64 = diffs.iter().map(|&d| if rng.random::<bool>() { d } else { -d }).sum();
            flipped.abs() >= observed - tolerance
        })
        .count();
    let p_value = (at_least_as_large + 1) as f64 / (options.permutations + 1) as f64;
    let difference = bootstrap_mean_ci(
        &diffs,
        &BootstrapOptions { resamples: options.bootstrap_resamples, level: 1.0 - options.alpha, seed: options.seed },
    )?;
    Ok(PairedTest {
        mean_a: mean(a),
        mean_b: mean(b),
        difference,
        p_value,
        alpha: options.alpha,
        significant: p_value < options.alpha,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random::<f64>()).collect()
    }

    #[test]
    fn identical_variants_have_p_one() -> Result<()> {
        let a = scores(50, 1);
        let t = paired_permutation_test(&a, &a, &PairedTestOptions::default())?;
        assert_eq!(t.p_value, 1.0);
        assert!(!t.significant);
        assert_eq!((t.difference.lower, t.difference.upper), (0.0, 0.0));
        Ok(())
    }

    #[test]
    fn a_clear_difference_is_significant() -> Result<()> {
        // b beats a by 0.3 on every sample: only the all-plus and all-minus sign patterns (2 of
        // 2^50) reach the observed difference, so no trial does and p = 1 / 10001.
        let a = scores(50, 2);
        let b: Vec<f64> = a.iter().map(|x| x + 0.3).collect();
        let t = paired_permutation_test(&a, &b, &PairedTestOptions::default())?;
        assert!((t.p_value - 1.0 / 10_001.0).abs() < 1e-15, "{t:?}");
        assert!(t.significant);
        assert!((t.difference.mean - 0.3).abs() < 1e-12 && t.difference.lower > 0.29);
        Ok(())
    }

    #[test]
    fn noise_alone_is_not_significant() -> Result<()> {
        // Independent draws for the same samples: no real difference.
        let t = paired_permutation_test(&scores(40, 3), &scores(40, 4), &PairedTestOptions::default())?;
        assert!(t.p_value > 0.05, "{t:?}");
        assert!(t.difference.lower < 0.0 && 0.0 < t.difference.upper);
        Ok(())
    }

    #[test]
    fn small_exact_case_matches_enumeration() -> Result<()> {
        // Differences 1, 1, 1: of the 8 sign patterns, 2 (+++ and ---) reach |sum| = 3, so the
        // exact p is 1/4; with many trials the estimate is (k + 1) / (N + 1), close to 1/4.
        let options = PairedTestOptions { permutations: 100_000, ..Default::default() };
        let t = paired_permutation_test(&[0.0; 3], &[1.0; 3], &options)?;
        assert!((t.p_value - 0.25).abs() < 0.01, "{t:?}");
        Ok(())
    }

    #[test]
    fn bad_input_is_an_error() {
        let o = PairedTestOptions::default();
        assert!(matches!(paired_permutation_test(&[1.0], &[1.0, 2.0], &o), Err(Error::UnpairedScores { a: 1, b: 2 })));
        assert!(matches!(paired_permutation_test(&[], &[], &o), Err(Error::NoScores { .. })));
        let alpha = PairedTestOptions { alpha: 0.0, ..PairedTestOptions::default() };
        assert!(matches!(paired_permutation_test(&[1.0], &[1.0], &alpha), Err(Error::NotAProbability { .. })));
    }
}
