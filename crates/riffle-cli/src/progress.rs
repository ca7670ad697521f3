//! The live progress line: records/s, current watermark, elapsed time.
//! Drawn on standard error only when it is a terminal.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use riffle_runtime::metrics::JobMetrics;

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
