//! tracing set-up: readable lines by default or JSON lines, filtered by `AUTOPOST_LOG`,
//! written to standard error so that standard output stays the CLI's own.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter does not parse (config validates it first, so this is rare).
    #[error("AUTOPOST_LOG: `{filter}` is not a tracing filter")]
    BadFilter {
        /// The filter text.
        filter: String,
        /// Why.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber was already installed.
    #[error("logging was already set up")]
    AlreadySet(#[source] tracing::subscriber::SetGlobalDefaultError),
}

/// A subscriber writing to `writer`: for `init`, and for tests that capture log output.
pub fn subscriber<W>(
    filter: &str,
    format: LogFormat,
    writer: W,
) -> Result<Box<dyn tracing::Subscriber + Send + Sync>, TelemetryError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).map_err(|source| TelemetryError::BadFilter {
        filter: filter.to_owned(),
        source,
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(true);
    Ok(match format {
        LogFormat::Text => Box::new(builder.with_ansi(false).finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .finish(),
        ),
    })
}

/// Installs the process-wide subscriber writing to standard error.
pub fn init(filter: &str, format: LogFormat) -> Result<(), TelemetryError> {
    let subscriber = subscriber(filter, format, std::io::stderr)?;
    tracing::subscriber::set_global_default(subscriber).map_err(TelemetryError::AlreadySet)
}

/// An error and its causes on one line ("cannot open store: database is locked"), for a
/// log field. Logged once, where the error is handled.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn captured(format: LogFormat, filter: &str) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = subscriber(filter, format, move || writer.clone()).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(post_id = 7, "published");
            tracing::debug!("hidden at info");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn json_format_writes_one_object_per_line() {
        let out = captured(LogFormat::Json, "info");
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        let value: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(value["message"], "published");
        assert_eq!(value["post_id"], 7);
        assert_eq!(value["level"], "INFO");
    }

    #[test]
    fn text_format_is_readable_and_the_filter_applies() {
        let out = captured(LogFormat::Text, "info");
        assert!(out.contains("INFO") && out.contains("published") && out.contains("post_id=7"));
        assert!(!out.contains("hidden"));
        assert!(captured(LogFormat::Text, "debug").contains("hidden at info"));
    }
}
