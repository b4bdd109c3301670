//! `autopost bench`: measurements of the real scheduler, store and Telegram front end against
//! the simulated platforms, in a temporary directory, with no configuration and no network.

mod idle;
mod telegram;

use std::path::Path;

use autopost::app::App;
use autopost::config;

// `bench scheduler` and `bench claim` live with the simulated platforms, built on their world;
// the measuring helpers they share with the benches here come from there too.
pub use autopost_sim::bench::{SchedulerBench, claim, scheduler};
use autopost_sim::bench::{current_rss_kib, peak_rss_kib, percentile, status_kib};
pub use idle::{IdleBench, idle};
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
