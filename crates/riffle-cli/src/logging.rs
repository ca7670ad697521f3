//! Log output: `tracing` to standard error, human-readable or JSON lines.
//!
//! The cluster processes read the format from `riffle.log.format` (so it can
//! live in `config.yaml` next to the other keys) and log at `info` by
//! default, as Flink's do; the client commands log only warnings. `RIFFLE_LOG`
//! (an `EnvFilter` directive such as `debug` or `riffle_runtime=trace`)
//! overrides the level either way. Task log lines sit inside a `job` span
//! (`job_id`, `attempt`) and a `task` span (`task`), which both formats print.
//!
//! Colour: the text format colours levels and field names only when standard
//! error is a terminal and `NO_COLOR` is unset or empty (<https://no-color.org>).
//! Logs redirected to a file or a pipe (`riffle ... 2>job.log`, a container's
//! log collector, a CI job) are read by tools and people with `grep`, for whom
//! escape codes are noise; `tracing_subscriber` alone would emit them there.

use std::ffi::OsStr;
use std::io::IsTerminal;

use riffle_common::LogFormat;

/// Starts logging; a second call is a no-op.
pub fn init(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RIFFLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let ansi = use_ansi(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
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

/// Whether log lines may carry ANSI escape codes: only on a terminal, and
/// not when `NO_COLOR` is set to a non-empty value.
fn use_ansi(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let set = OsStr::new("1");
        let empty = OsStr::new("");
        // (stderr is a terminal, NO_COLOR) → colour
        let cases = [
            (true, None, true),
            (true, Some(empty), true),
            (true, Some(set), false),
            (false, None, false),
            (false, Some(empty), false),
            (false, Some(set), false),
        ];
        for (terminal, no_color, expected) in cases {
            assert_eq!(
                use_ansi(terminal, no_color),
                expected,
                "terminal={terminal}, NO_COLOR={no_color:?}"
            );
        }
    }
}
