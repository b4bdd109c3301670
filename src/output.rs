//! The CLI's own output (`parse-time`, `doctor`, `rotate-key`): the one place that writes
//! to standard output. Logs go to standard error through tracing.

use std::io::Write;

/// Writes one line to standard output. A closed pipe is not an error worth a panic.
pub fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}
