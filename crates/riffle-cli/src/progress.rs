//! The live progress line: records/s, current watermark, elapsed time.
//!
//! The line is redrawn in place (`\r`, erase line) on standard error every
//! half second, so it is drawn only where that makes sense: when standard
//! error is a terminal, and never when the job's own rows reach a terminal
//! too. Rows of a `print` sink or a bare `SELECT` are written by the task
//! threads straight to standard output (or standard error, with
//! `'standard-error' = 'true'`) while the line is being redrawn; on a shared
//! terminal a row would start in the middle of the progress text, and the CLI
//! cannot order its writes with the connector's. So ([`should_draw`]): no
//! line with `--quiet`, none when standard error is not a terminal, none when
//! rows go to standard error, and none when rows go to standard output and
//! that is a terminal. `riffle run job.sql > rows.txt` keeps the line; a job
//! into `blackhole` or files keeps it whatever standard output is. Standard
//! output on a different terminal than standard error also loses the line:
//! telling two terminals apart is not worth the code for what is only a
//! display.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use riffle_runtime::metrics::JobMetrics;

/// Where a job prints its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowOutput {
    /// Some sink prints to standard output (`print`, bare `SELECT`).
    pub stdout: bool,
    /// Some sink prints to standard error (`print` with `'standard-error' = 'true'`).
    pub stderr: bool,
}

/// Whether to draw the progress line (the rule of the module doc).
pub fn should_draw(
    quiet: bool,
    stderr_is_terminal: bool,
    stdout_is_terminal: bool,
    rows: RowOutput,
) -> bool {
    // Rows on standard error share the line's terminal whenever it is drawn.
    let rows_on_a_terminal = rows.stderr || (rows.stdout && stdout_is_terminal);
    !quiet && stderr_is_terminal && !rows_on_a_terminal
}

/// A running progress reporter.
pub struct Progress {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    started: Instant,
}

impl Progress {
    /// Starts drawing (if `show`) every half second, from the metrics
    /// `current` returns (the running attempt's; `None` before it starts).
    pub fn start(
        current: impl Fn() -> Option<Arc<JobMetrics>> + Send + 'static,
        show: bool,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let handle = show.then(|| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut last = (Instant::now(), 0u64);
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(500));
                    let now = Instant::now();
                    let Some(metrics) = current() else { continue };
                    let n = metrics.source_records.load(Ordering::Relaxed);
                    // A restarted attempt counts from zero again.
                    let rate =
                        n.saturating_sub(last.1) as f64 / (now - last.0).as_secs_f64().max(1e-9);
                    last = (now, n);
                    let wm = match metrics.current_watermark() {
                        Some(i64::MAX) => "end".to_string(),
                        Some(w) => {
                            let mut s = String::new();
                            riffle_common::time::format_timestamp_ms(w, &mut s);
                            s
                        }
                        None => "-".to_string(),
                    };
                    let mut err = std::io::stderr().lock();
                    let _ = write!(
                        err,
                        "\r\x1b[2K{:>8.1} s | {:>12} records | {:>10.0} records/s | watermark {}",
                        started.elapsed().as_secs_f64(),
                        n,
                        rate,
                        wm
                    );
                    let _ = err.flush();
                }
                let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
            })
        });
        Progress {
            stop,
            handle,
            started,
        }
    }

    /// Stops drawing; returns the elapsed time.
    pub fn stop(mut self) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_never_shares_a_terminal_with_rows() {
        let none = RowOutput::default();
        let stdout = RowOutput {
            stdout: true,
            stderr: false,
        };
        let stderr = RowOutput {
            stdout: false,
            stderr: true,
        };
        // (quiet, stderr terminal, stdout terminal, rows) → draw
        let cases = [
            // No printed rows: only standard error matters.
            (false, true, true, none, true),
            (false, true, false, none, true),
            (false, false, true, none, false),
            // Rows on standard output: drawn only when they go to a file or pipe.
            (false, true, true, stdout, false),
            (false, true, false, stdout, true),
            (false, false, false, stdout, false),
            // Rows on standard error: never.
            (false, true, false, stderr, false),
            (false, true, true, stderr, false),
            // --quiet wins.
            (true, true, false, none, false),
            (true, true, false, stdout, false),
        ];
        for (quiet, err_tty, out_tty, rows, expected) in cases {
            assert_eq!(
                should_draw(quiet, err_tty, out_tty, rows),
                expected,
                "quiet={quiet}, stderr terminal={err_tty}, stdout terminal={out_tty}, {rows:?}"
            );
        }
    }
}
