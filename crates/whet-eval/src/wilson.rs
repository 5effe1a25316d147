//! The Wilson score interval for a proportion (`k` successes of `n`), the usual interval for an
//! accuracy over a small set: unlike the normal approximation it stays inside [0, 1] and is not
//! zero-width at 0 or n. Formula as in Wilson (1927) and `statsmodels`' `proportion_confint(...,
//! method="wilson")`.

/// The interval `(low, high)` at the normal quantile `z` (1.96 for 95%); `(0, 1)` when `n` is 0.
pub fn wilson_interval(k: usize, n: usize, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p) = (n as f64, k as f64 / n as f64);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_statsmodels_wilson() {
        // statsmodels 0.15.0: proportion_confint(k, n, alpha=0.05, method="wilson"),
        // with z = norm.ppf(0.975) = 1.959963984540054.
        let z = 1.959963984540054;
        let cases = [(8, 10, 0.4901624715, 0.9433178485), (0, 10, 0.0, 0.2775327999), (30, 38, 0.6365422052, 0.8892520816)];
        for (k, n, lo, hi) in cases {
            let (l, h) = wilson_interval(k, n, z);
            assert!((l - lo).abs() < 1e-9 && (h - hi).abs() < 1e-9, "{k}/{n}: ({l}, {h}) vs ({lo}, {hi})");
        }
        assert_eq!(wilson_interval(0, 0, z), (0.0, 1.0));
    }
}
