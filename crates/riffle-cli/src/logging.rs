//! Log output: `tracing` to standard error, human-readable or JSON lines.
//!
//! The cluster processes read the format from `riffle.log.format` (so it can
//! live in `config.yaml` next to the other keys) and log at `info` by
//! default, as Flink's do; the client commands log only warnings. `RIFFLE_LOG`
//! (an `EnvFilter` directive such as `debug` or `riffle_runtime=trace`)
//! overrides the level either way. Task log lines sit inside a `job` span
//! (`job_id`, `attempt`) and a `task` span (`task`), which both formats print.

use riffle_common::LogFormat;

/// Starts logging; a second call is a no-op.
pub fn init(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RIFFLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}
