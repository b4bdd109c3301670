//! `autopost bench`: measurements of the real scheduler, store and Telegram front end against
//! the simulated platforms, in a temporary directory, with no configuration and no network.

mod idle;
mod scheduler;
mod telegram;

use std::path::Path;

use autopost::app::App;
use autopost::config;

pub use idle::{IdleBench, idle};
pub use scheduler::{SchedulerBench, claim, scheduler};
pub use telegram::{TelegramBench, telegram};

/// An App on a temporary data dir, configured by `vars` (AUTOPOST_* names) alone.
async fn app_with(dir: &Path, vars: &[(&str, &str)]) -> anyhow::Result<App> {
    let data = dir.display().to_string();
    let mut all = vec![
        ("AUTOPOST_DATA_DIR", data.as_str()),
        ("AUTOPOST_LOG", "warn"),
    ];
    all.extend_from_slice(vars);
    let config = config::from_variables(&all)?;
    Ok(App::open(config).await?)
}

/// The value at percentile `p` (0-100) of `sorted`, nearest rank; NaN when empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Peak resident memory of this process, from /proc (Linux); `None` elsewhere.
fn peak_rss_kib() -> Option<u64> {
    proc_status_kib("VmHWM:")
}

/// Resident memory of this process now, from /proc (Linux); `None` elsewhere.
fn current_rss_kib() -> Option<u64> {
    proc_status_kib("VmRSS:")
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&status, field)
}

/// A `kB` field (`VmRSS:`) of a /proc/PID/status text.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), 51.0);
        assert_eq!(percentile(&sorted, 99.0), 99.0);
        assert_eq!(percentile(&sorted, 100.0), 100.0);
        assert_eq!(percentile(&sorted, 0.0), 1.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
