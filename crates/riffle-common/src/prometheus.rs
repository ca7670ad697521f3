//! Prometheus text exposition and the small HTTP endpoint that serves it.
//!
//! Both cluster processes expose their metrics the way Flink's Prometheus
//! reporter does: names are `flink_<scope>_<metric>` (for example
//! `flink_taskmanager_job_task_numRecordsIn`), scope variables become labels
//! (`job_id`, `task_name`, `subtask_index`, ...) and every value is a gauge,
//! so existing dashboards and alert rules keep working.
//!
//! The endpoint is a plain blocking listener rather than a web framework:
//! it answers one `GET` at a time, which is all a scraper needs, and keeps
//! the TaskManager free of an async runtime.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::config::PortRange;
use crate::process::{CpuMeter, process_stats};

/// One metric family: its help text and samples in insertion order.
#[derive(Debug, Default)]
struct Family {
    help: String,
    samples: Vec<(String, f64)>,
}

/// Metric families being collected for one scrape.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Family names in first-seen order (Prometheus wants each family's
    /// samples together, under one `# TYPE` line).
    order: Vec<String>,
    families: BTreeMap<String, Family>,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one gauge sample. `name` is the full metric name; characters
    /// Prometheus does not allow become `_`, as in Flink's reporter.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let name = sanitize(name);
        let family = match self.families.get_mut(&name) {
            Some(f) => f,
            None => {
                self.order.push(name.clone());
                self.families.entry(name.clone()).or_insert(Family {
                    help: help.to_string(),
                    samples: Vec::new(),
                })
            }
        };
        let mut rendered = String::new();
        if !labels.is_empty() {
            rendered.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    rendered.push(',');
                }
                let _ = write!(rendered, "{}=\"{}\"", sanitize(k), escape(v));
            }
            rendered.push('}');
        }
        family.samples.push((rendered, value));
    }

    /// The text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for name in &self.order {
            let Some(f) = self.families.get(name) else {
                continue;
            };
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&f.help));
            let _ = writeln!(out, "# TYPE {name} gauge");
            for (labels, value) in &f.samples {
                let _ = writeln!(out, "{name}{labels} {}", format_value(*value));
            }
        }
        out
    }
}

/// Replaces characters outside `[a-zA-Z0-9_:]` with `_` (and a leading digit).
fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Adds the process gauges Flink reports under `Status`: CPU load (share of
/// all cores since the previous scrape), CPU time and resident memory.
pub fn add_process(e: &mut Exposition, scope: &str, labels: &[(&str, &str)], cpu: &CpuMeter) {
    let p = process_stats();
    e.gauge(
        &format!("{scope}_Status_JVM_CPU_Load"),
        "CPU load of the process, as a share of all cores (0 to 1).",
        labels,
        cpu.load(p.cpu_ms),
    );
    e.gauge(
        &format!("{scope}_Status_ProcessTree_CPU_Time"),
        "CPU time used by the process, in ms.",
        labels,
        p.cpu_ms as f64,
    );
    e.gauge(
        &format!("{scope}_Status_ProcessTree_Memory_RSS"),
        "Resident memory of the process, in bytes.",
        labels,
        p.rss_bytes as f64,
    );
}

/// Produces the exposition for one scrape.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// Whether the process is ready for work: `Ok` with a line saying why, or
/// `Err` with what it waits for.
pub type Readiness = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// The path of the readiness check, for a Kubernetes `readinessProbe`.
pub const READY_PATH: &str = "/readyz";

/// Binds the first free port of `ports` on `bind` and serves `GET /metrics`
/// (any path answers, as Flink's reporter does) from a background thread.
/// With `ready`, `GET /readyz` answers 200 or 503 from it instead: the
/// port a pod already exposes for scraping doubles as its readiness probe.
/// Returns the bound port.
pub fn serve(
    bind: &str,
    ports: &PortRange,
    render: Render,
    ready: Option<Readiness>,
) -> std::io::Result<u16> {
    let mut last_error = None;
    for port in ports.ports() {
        match TcpListener::bind((bind, port)) {
            Ok(listener) => {
                let bound = listener.local_addr()?.port();
                std::thread::Builder::new()
                    .name("prometheus".into())
                    .spawn(move || {
                        for stream in listener.incoming().flatten() {
                            // A scraper that hangs up early is its own problem.
                            let _ = answer(stream, &render, ready.as_ref());
                        }
                    })?;
                return Ok(bound);
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("empty port range")))
}

fn answer(stream: TcpStream, render: &Render, ready: Option<&Readiness>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers; a scrape has no body.
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut stream = stream;
    let mut words = request_line.split_whitespace();
    let method = words.next().unwrap_or("");
    let path = words.next().unwrap_or("/");
    let (status, content_type, body) = match (method, ready) {
        ("GET", Some(ready)) if path == READY_PATH => match ready() {
            Ok(why) => ("200 OK", "text/plain; charset=utf-8", format!("{why}\n")),
            Err(why) => (
                "503 Service Unavailable",
                "text/plain; charset=utf-8",
                format!("{why}\n"),
            ),
        },
        ("GET", _) => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(),
        ),
        ("HEAD", _) => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            String::new(),
        ),
        (_, _) => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET is served here\n".to_string(),
        ),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn families_are_grouped_and_labels_escaped() {
        let mut e = Exposition::new();
        e.gauge("flink_a", "A.", &[("task_name", "Source: x -> \"y\"")], 1.0);
        e.gauge("flink_b", "B.", &[], 0.25);
        e.gauge("flink_a", "A.", &[("task_name", "z\\")], 2.0);
        let text = e.render();
        assert_eq!(
            text,
            "# HELP flink_a A.\n# TYPE flink_a gauge\n\
             flink_a{task_name=\"Source: x -> \\\"y\\\"\"} 1\n\
             flink_a{task_name=\"z\\\\\"} 2\n\
             # HELP flink_b B.\n# TYPE flink_b gauge\nflink_b 0.25\n"
        );
    }

    #[test]
    fn names_are_sanitized_and_values_formatted() {
        assert_eq!(
            sanitize("flink_jobmanager_Status.JVM.CPU"),
            "flink_jobmanager_Status_JVM_CPU"
        );
        assert_eq!(sanitize("1x"), "_1x");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(i64::MIN as f64), "-9223372036854776000");
        assert_eq!(format_value(3.0), "3");
    }

    #[test]
    fn the_endpoint_answers_get() {
        let render: Render = Arc::new(|| "# HELP m M.\n# TYPE m gauge\nm 1\n".to_string());
        let port = serve("127.0.0.1", &PortRange::single(0), render, None).unwrap();
        let text = get(port, "/metrics");
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(
            text.ends_with("\r\n\r\n# HELP m M.\n# TYPE m gauge\nm 1\n"),
            "{text}"
        );
        // Without a readiness check, /readyz is one more path for the metrics.
        assert!(get(port, READY_PATH).ends_with("m 1\n"));
    }

    #[test]
    fn readyz_answers_from_the_check() {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = Arc::clone(&flag);
        let ready: Readiness = Arc::new(move || {
            if f.load(std::sync::atomic::Ordering::Relaxed) {
                Ok("registered".into())
            } else {
                Err("not registered yet".into())
            }
        });
        let render: Render = Arc::new(|| "m 1\n".to_string());
        let port = serve("127.0.0.1", &PortRange::single(0), render, Some(ready)).unwrap();
        let text = get(port, READY_PATH);
        assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
        assert!(text.ends_with("\r\n\r\nnot registered yet\n"), "{text}");
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
        let text = get(port, READY_PATH);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(get(port, "/metrics").ends_with("m 1\n"));
    }

    fn get(port: u16, path: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    }
}
