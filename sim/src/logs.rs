//! Log lines kept in memory, for tests that read what autopost logged: that an error's chain
//! and reference are there, that no token or personal detail is.

use std::sync::{Arc, Mutex, PoisonError};

use autopost::config::LogFormat;
use autopost::telemetry::{self, TelemetryError};

/// Everything written by the subscribers made from it, shared by its clones.
#[derive(Debug, Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// A subscriber, as `autopost run` installs it (`filter` as in `AUTOPOST_LOG`), writing
    /// here. Install it for the whole process (`set_global_default`, to see other threads
    /// too) or for the current thread (`set_default`).
    pub fn subscriber(
        &self,
        filter: &str,
        format: LogFormat,
    ) -> Result<Box<dyn tracing::Subscriber + Send + Sync>, TelemetryError> {
        let writer = self.clone();
        telemetry::subscriber(filter, format, move || writer.clone())
    }

    /// What was written so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
