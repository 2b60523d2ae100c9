//! The few statistics the report needs: nearest-rank percentiles and medians.

use std::time::Duration;

/// The `q` quantile (0 < q ≤ 1) of `sorted` by the nearest-rank method: the smallest sample
/// with at least `q` of all samples at or below it. `None` when there are no samples.
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// The median of `values` (the mean of the middle two for an even count), ignoring NaNs.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    let mut values: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// A duration in milliseconds, as a float.
pub(crate) fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let samples: Vec<Duration> = (1..=1000).map(Duration::from_micros).collect();
        assert_eq!(percentile(&samples, 0.5), Some(Duration::from_micros(500)));
        assert_eq!(percentile(&samples, 0.99), Some(Duration::from_micros(990)));
        assert_eq!(
            percentile(&samples, 0.999),
            Some(Duration::from_micros(999))
        );
        assert_eq!(percentile(&samples, 1.0), Some(Duration::from_micros(1000)));
        assert_eq!(
            percentile(&samples[..1], 0.999),
            Some(Duration::from_micros(1))
        );
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 1.0]), Some(1.0));
        assert_eq!(median(&[]), None);
    }
}
