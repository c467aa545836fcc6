//! Order statistics of a set of durations.

use std::time::Duration;

/// Median, p99, min, max and mean of a sample.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub n: usize,
    pub min: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub mean: Duration,
}

impl Summary {
    pub fn of(samples: &[Duration]) -> Summary {
        let mut v = samples.to_vec();
        v.sort();
        let n = v.len();
        if n == 0 {
            return Summary::default();
        }
        let at = |q: f64| v[((n as f64 - 1.0) * q).round() as usize];
        let mean = v.iter().sum::<Duration>() / n as u32;
        Summary {
            n,
            min: v[0],
            p50: at(0.5),
            p99: at(0.99),
            max: v[n - 1],
            mean,
        }
    }
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p99() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let sum = Summary::of(&s);
        assert_eq!(sum.p50, Duration::from_millis(51));
        assert_eq!(sum.p99, Duration::from_millis(99));
        assert_eq!(sum.min, Duration::from_millis(1));
        assert_eq!(sum.max, Duration::from_millis(100));
        assert_eq!(Summary::of(&[]).n, 0);
    }
}
