//! Waiting for facts instead of time: a condition polled until it holds or a deadline passes,
//! and the scheduler's own word that it has nothing left to do.

use std::time::Duration;

use autopost::scheduler::{Progress, Scheduler};
use tokio::time::Instant;

use super::WorldError;

/// How long a wait for something the world is about to do may take before it counts as never:
/// far beyond what a healthy run needs, so that a loaded machine is slow rather than failing.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// How often a condition is looked at again.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// Looks at `check` until it holds; fails with `what` once `within` has passed without it.
pub async fn wait_until(
    what: &str,
    within: Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> Result<(), WorldError> {
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(WorldError::Stalled {
                what: what.to_owned(),
                waited: within,
            });
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Waits until `scheduler` (whose run loop must be running) has finished a tick that began
/// after this call, started nothing, and left nothing in flight: everything due by now has
/// been handled, and no publish is still on its way. A retry planned for later is not due yet,
/// so it does not count.
pub async fn wait_for_quiet(scheduler: &Scheduler) -> Result<(), WorldError> {
    let mut progress = scheduler.watch_progress();
    let stalled = || WorldError::Stalled {
        what: "the scheduler to fall quiet".to_owned(),
        waited: PATIENCE,
    };
    let deadline = Instant::now() + PATIENCE;
    // The first tick to finish may have begun before this call and missed what the caller
    // just did; every tick after it began later. So: one tick to pass, then an idle one.
    let mut need_idle = false;
    loop {
        let seen = progress.borrow_and_update().ticks;
        // A tick now, rather than whenever the next due time comes.
        scheduler.wake();
        // Copied out at once: a borrowed value would hold up the scheduler's next report.
        let ticked: Progress =
            *tokio::time::timeout_at(deadline, progress.wait_for(|p| p.ticks > seen))
                .await
                .map_err(|_| stalled())?
                .map_err(|_| stalled())?;
        if need_idle && ticked.is_idle() {
            return Ok(());
        }
        need_idle = true;
    }
}
