//! The CLI's own output (`parse-time`, `doctor`, `rotate-key`, `export`, `audit`): the one
//! place that writes to standard output. Logs go to standard error through tracing.

use std::io::Write;

/// Writes one line to standard output. A closed pipe is not an error worth a panic.
pub fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// Writes `bytes` to standard output as they are (an export piped to a file), flushed.
pub fn write_bytes(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// Whether standard output is a terminal, where a zip must not be written.
pub fn is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}
