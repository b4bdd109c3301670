//! `autopost bench`: measurements of the real scheduler, store and chat front ends against
//! the simulated platforms, in a temporary directory, with no configuration and no network.

mod discord;
mod idle;
mod scale_out;
mod telegram;

// `bench scheduler` and `bench claim` live with the simulated platforms, built on their world;
// the measuring helpers they share with the benches here come from there too.
pub use autopost_sim::bench::{SchedulerBench, claim, scheduler};
use autopost_sim::bench::{current_rss_kib, peak_rss_kib, percentile, status_kib};
pub use discord::{DiscordBench, discord};
pub use idle::{IdleBench, idle};
pub use scale_out::{ScaleOutBench, scale_out};
pub use telegram::{TelegramBench, telegram};

/// How response times in milliseconds (`sorted` ascending) spread, as every bench here
/// prints it.
fn spread_ms(sorted: &[f64]) -> String {
    format!(
        "p50 {:.2} ms  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        percentile(sorted, 50.0),
        percentile(sorted, 90.0),
        percentile(sorted, 99.0),
        percentile(sorted, 99.9),
        percentile(sorted, 100.0),
    )
}
