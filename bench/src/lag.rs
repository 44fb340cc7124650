//! Scheduler lag: a fine histogram of start lags measured from results, and the agent's own
//! `driftvakt_agent_scheduler_lag_seconds` histogram read back from its `/metrics` text.

use std::time::Duration;

/// Resolution of [`LagHistogram`].
const STEP_NS: u64 = 100_000;
/// Buckets of [`LagHistogram`]: 0.1 ms steps up to 2 s, then one overflow bucket.
const BUCKETS: usize = 20_000;

/// Lags in 0.1 ms steps; lags of 2 s or more share the last bucket.
#[derive(Debug, Clone)]
pub struct LagHistogram {
    counts: Vec<u32>,
    total: u64,
    max: Duration,
}

impl Default for LagHistogram {
    fn default() -> Self {
        LagHistogram {
            counts: vec![0; BUCKETS + 1],
            total: 0,
            max: Duration::ZERO,
        }
    }
}

impl LagHistogram {
    pub fn add(&mut self, lag: Duration) {
        let i = ((lag.as_nanos() / u128::from(STEP_NS)) as usize).min(BUCKETS);
        self.counts[i] += 1;
        self.total += 1;
        self.max = self.max.max(lag);
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The `q` quantile in milliseconds (upper edge of its 0.1 ms step); NaN when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.total == 0 {
            return f64::NAN;
        }
        let want = (q * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= want {
                return ((i as u64 + 1) * STEP_NS) as f64 / 1e6;
            }
        }
        self.max_ms()
    }

    pub fn max_ms(&self) -> f64 {
        self.max.as_secs_f64() * 1000.0
    }
}

/// Cumulative buckets of a Prometheus histogram: (upper bound in seconds, count).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromHistogram {
    pub buckets: Vec<(f64, u64)>,
}

impl PromHistogram {
    /// Bucket counts of `self` minus those of an earlier reading.
    pub fn minus(&self, earlier: &PromHistogram) -> PromHistogram {
        let buckets = self
            .buckets
            .iter()
            .map(|(le, n)| {
                let before = earlier
                    .buckets
                    .iter()
                    .find(|(l, _)| l == le)
                    .map_or(0, |(_, b)| *b);
                (*le, n.saturating_sub(before))
            })
            .collect();
        PromHistogram { buckets }
    }

    /// The upper bound of the bucket holding the `q` quantile, in seconds (inf if beyond the
    /// last finite bucket, NaN when empty).
    pub fn quantile_le(&self, q: f64) -> f64 {
        let total = self.buckets.last().map_or(0, |(_, n)| *n);
        if total == 0 {
            return f64::NAN;
        }
        let want = (q * total as f64).ceil() as u64;
        self.buckets
            .iter()
            .find(|(_, n)| *n >= want)
            .map_or(f64::INFINITY, |(le, _)| *le)
    }
}

/// Reads `driftvakt_agent_scheduler_lag_seconds_bucket` lines from `/metrics` text.
pub fn agent_lag_histogram(text: &str) -> PromHistogram {
    let mut buckets: Vec<(f64, u64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("driftvakt_agent_scheduler_lag_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    PromHistogram { buckets }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fine_quantiles() {
        let mut h = LagHistogram::default();
        for ms in 1..=100 {
            h.add(Duration::from_millis(ms));
        }
        assert_eq!(h.total(), 100);
        assert!((h.quantile_ms(0.5) - 50.1).abs() < 1e-9);
        assert!((h.quantile_ms(0.99) - 99.1).abs() < 1e-9);
        assert_eq!(h.max_ms(), 100.0);
    }

    #[test]
    fn reads_agent_histogram() {
        let text = "# TYPE driftvakt_agent_scheduler_lag_seconds histogram\n\
            driftvakt_agent_scheduler_lag_seconds_sum 0.5\n\
            driftvakt_agent_scheduler_lag_seconds_count 100\n\
            driftvakt_agent_scheduler_lag_seconds_bucket{le=\"0.001\"} 90\n\
            driftvakt_agent_scheduler_lag_seconds_bucket{le=\"0.005\"} 99\n\
            driftvakt_agent_scheduler_lag_seconds_bucket{le=\"0.01\"} 100\n\
            driftvakt_agent_scheduler_lag_seconds_bucket{le=\"+Inf\"} 100\n";
        let h = agent_lag_histogram(text);
        assert_eq!(h.buckets.len(), 4);
        assert_eq!(h.quantile_le(0.5), 0.001);
        assert_eq!(h.quantile_le(0.99), 0.005);
        let earlier = PromHistogram {
            buckets: vec![(0.001, 90), (0.005, 90), (0.01, 90), (f64::INFINITY, 90)],
        };
        assert_eq!(h.minus(&earlier).quantile_le(0.5), 0.005);
    }
}
