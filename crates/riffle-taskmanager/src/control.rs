//! Registration, heartbeats and commands from the JobManager.
//!
//! One connection to the JobManager at a time. The loop registers, then
//! reads commands; a separate thread sends a heartbeat every
//! `heartbeat.interval`. If the connection breaks or the JobManager leaves a
//! heartbeat unanswered for `heartbeat.timeout`, the TaskManager cancels its
//! attempts and registers again after a pause (the JobManager may be
//! restarting).

use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use riffle_rpc::ResourceId;
use riffle_rpc::control::{
    PROTOCOL_VERSION, ProcessReport, TaskManagerInfo, ToJobManager, ToTaskManager, receive, send,
};

use riffle_common::config::PortRange;
use riffle_common::process::CpuMeter;
use riffle_common::prometheus::{self, Readiness, Render};

use crate::attempts::{AttemptObserver, Attempts, Reporter, deploy};
use crate::{hardware, metrics};

/// How a TaskManager is set up (from `config.yaml`, `-D` and the command line).
#[derive(Debug, Clone)]
pub struct TaskManagerOptions {
    /// Resource id (`taskmanager.resource-id` or random).
    pub resource_id: ResourceId,
    /// `jobmanager.rpc.address:jobmanager.rpc.port`.
    pub jobmanager: String,
    /// Host other TaskManagers reach this one at (`taskmanager.host`);
    /// `None`: the local address of the connection to the JobManager, which
    /// is the pod's address on Kubernetes (Flink detects it the same way).
    pub host: Option<String>,
    /// Address the data port binds to (`taskmanager.bind-host`).
    pub bind_host: String,
    /// Data port (`taskmanager.data.port`; 0 = any).
    pub data_port: u16,
    /// `taskmanager.numberOfTaskSlots`.
    pub slots: usize,
    /// `heartbeat.interval`.
    pub heartbeat_interval: Duration,
    /// `heartbeat.timeout`.
    pub heartbeat_timeout: Duration,
    /// Ports the Prometheus endpoint may bind to (`metrics.reporter.prom.port`);
    /// `None` runs no endpoint.
    pub metrics_ports: Option<PortRange>,
}

/// A running TaskManager.
pub struct TaskManager {
    options: TaskManagerOptions,
    data_port: u16,
    metrics_port: Option<u16>,
    attempts: Arc<Attempts>,
    stop: Arc<AtomicBool>,
    /// The control loop's thread, joined by [`TaskManager::shutdown`].
    control: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The current connection to the JobManager, closed by
    /// [`TaskManager::shutdown`] to wake the control loop's read at once.
    connection: Mutex<Option<TcpStream>>,
    /// Registered at the JobManager now: the readiness check's answer.
    registered: Arc<AtomicBool>,
}

impl std::fmt::Debug for TaskManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskManager")
            .field("resource_id", &self.options.resource_id)
            .field("data_port", &self.data_port)
            .finish()
    }
}

/// The connection's write half, shared by heartbeats and task reports.
#[derive(Default)]
struct Link {
    stream: Mutex<Option<TcpStream>>,
}

impl Link {
    /// Closes the connection, so the JobManager sees this TaskManager leave
    /// at once instead of after `heartbeat.timeout`.
    fn close(&self) {
        if let Ok(mut guard) = self.stream.lock()
            && let Some(s) = guard.take()
        {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Closes the link when a session ends, whichever way it ends: the task
/// reporter keeps the link alive after the session is over.
struct CloseOnDrop(Arc<Link>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl Reporter for Link {
    fn report(&self, msg: ToJobManager) {
        if let Ok(mut guard) = self.stream.lock()
            && let Some(s) = guard.as_mut()
            && let Err(e) = send(s, &msg)
        {
            tracing::warn!(error = %e, "cannot reach the JobManager");
            *guard = None;
        }
    }
}

/// The machine's host name for metric labels (Flink's `host` variable).
fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Starts the Prometheus endpoint; a port that cannot be bound is logged
/// and the TaskManager runs without one, as Flink's reporter does.
/// `GET /readyz` on the same port answers whether the TaskManager is
/// registered at the JobManager (its Kubernetes readiness).
fn serve_metrics(
    o: &TaskManagerOptions,
    ports: &PortRange,
    attempts: &Arc<Attempts>,
    registered: &Arc<AtomicBool>,
) -> Option<u16> {
    let host = o.host.clone().unwrap_or_else(local_host_name);
    let tm_id = o.resource_id.to_string();
    let attempts = Arc::clone(attempts);
    let cpu = CpuMeter::default();
    let render: Render = Arc::new(move || metrics::render(&host, &tm_id, &attempts.tasks(), &cpu));
    let (registered, jobmanager) = (Arc::clone(registered), o.jobmanager.clone());
    let ready: Readiness = Arc::new(move || {
        if registered.load(Ordering::Relaxed) {
            Ok(format!("registered at the JobManager {jobmanager}"))
        } else {
            Err(format!(
                "not registered at the JobManager {jobmanager} (jobmanager.rpc.address, \
                 jobmanager.rpc.port)"
            ))
        }
    });
    match prometheus::serve(&o.bind_host, ports, render, Some(ready)) {
        Ok(port) => {
            tracing::info!(port, "Prometheus endpoint started");
            Some(port)
        }
        Err(e) => {
            tracing::warn!(ports = %ports, error = %e, "cannot start the Prometheus endpoint (metrics.reporter.prom.port)");
            None
        }
    }
}

impl TaskManager {
    /// Binds the data port and starts registering with the JobManager.
    pub fn start(options: TaskManagerOptions) -> std::io::Result<Arc<TaskManager>> {
        let listener =
            TcpListener::bind((options.bind_host.as_str(), options.data_port)).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot bind the TaskManager data port {}:{} (taskmanager.bind-host, \
                         taskmanager.data.port; 0 picks a free port): {e}",
                        options.bind_host, options.data_port
                    ),
                )
            })?;
        let data_port = listener.local_addr()?.port();
        let attempts = Arc::new(Attempts::default());
        riffle_rpc::net::serve(listener, Arc::clone(&attempts) as _)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let registered = Arc::new(AtomicBool::new(false));
        let metrics_port = match &options.metrics_ports {
            Some(ports) => serve_metrics(&options, ports, &attempts, &registered),
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (sampled, stopped) = (Arc::clone(&attempts), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("tm-metrics".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    sampled.sample();
                    std::thread::sleep(Duration::from_secs(1));
                }
            })?;
        let tm = Arc::new(TaskManager {
            options,
            data_port,
            metrics_port,
            attempts,
            stop,
            control: Mutex::new(None),
            connection: Mutex::new(None),
            registered,
        });
        let me = Arc::clone(&tm);
        let control = std::thread::Builder::new()
            .name("tm-control".into())
            .spawn(move || me.control_loop())?;
        if let Ok(mut c) = tm.control.lock() {
            *c = Some(control);
        }
        tracing::info!(
            resource_id = %tm.options.resource_id,
            data_port,
            slots = tm.options.slots,
            "TaskManager started"
        );
        Ok(tm)
    }

    /// The bound data port.
    pub fn data_port(&self) -> u16 {
        self.data_port
    }

    /// The bound Prometheus port, if the endpoint runs.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// The resource id.
    pub fn resource_id(&self) -> ResourceId {
        self.options.resource_id
    }

    /// Calls `f` with the metrics of every attempt deployed from now on.
    pub fn observe_attempts(&self, f: AttemptObserver) {
        self.attempts.observe(f);
    }

    /// Stops registering, cancels everything and leaves the JobManager:
    /// returns once the connection is closed (within the control loop's
    /// 200 ms poll), so a stopped pod's slots are released at once.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.attempts.cancel_all();
        if let Some(c) = self.connection.lock().ok().and_then(|mut c| c.take()) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        let control = self.control.lock().ok().and_then(|mut c| c.take());
        if let Some(handle) = control
            && handle.thread().id() != std::thread::current().id()
        {
            let _ = handle.join();
        }
    }

    fn control_loop(self: Arc<Self>) {
        let mut announced_failure = false;
        // The first retries come quickly (a JobManager started at the same
        // moment is up within milliseconds), later ones back off to 1 s.
        let mut pause = Duration::from_millis(25);
        while !self.stop.load(Ordering::Relaxed) {
            let began = Instant::now();
            let ended = self.session();
            self.registered.store(false, Ordering::Relaxed);
            match ended {
                Ok(()) => announced_failure = false,
                Err(e) => {
                    // A session that lasted was a registration that broke: retry quickly.
                    if began.elapsed() > Duration::from_secs(5) {
                        pause = Duration::from_millis(25);
                    }
                    if !announced_failure {
                        tracing::warn!(
                            jobmanager = %self.options.jobmanager,
                            error = %e,
                            "not connected to the JobManager; retrying"
                        );
                        announced_failure = true;
                    }
                }
            }
            self.attempts.cancel_all();
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// One registration: returns when the connection to the JobManager is lost.
    fn session(&self) -> Result<(), String> {
        let addr = self
            .options
            .jobmanager
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.options.jobmanager))?
            .next()
            .ok_or_else(|| format!("{} resolves to no address", self.options.jobmanager))?;
        let mut stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let o = &self.options;
        let host = match &o.host {
            Some(h) => h.clone(),
            None => stream
                .local_addr()
                .map_err(|e| e.to_string())?
                .ip()
                .to_string(),
        };
        send(
            &mut stream,
            &ToJobManager::Register(TaskManagerInfo {
                resource_id: o.resource_id,
                protocol_version: PROTOCOL_VERSION,
                host,
                data_port: self.data_port,
                metrics_port: self.metrics_port,
                slots: o.slots,
                cpu_cores: hardware::cpu_cores(),
                physical_memory: hardware::physical_memory(),
            }),
        )
        .map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        let mut reader = stream.try_clone().map_err(|e| e.to_string())?;
        let link = Arc::new(Link {
            stream: Mutex::new(Some(stream)),
        });
        let _close = CloseOnDrop(Arc::clone(&link));
        if let (Ok(mut c), Ok(clone)) = (self.connection.lock(), reader.try_clone()) {
            *c = Some(clone);
        }
        // A shutdown that came before the connection was kept would not close it.
        if self.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.attempts
            .set_reporter(Arc::clone(&link) as Arc<dyn Reporter>);
        let mut last_ack = Instant::now();
        let mut last_beat = Instant::now() - o.heartbeat_interval;
        let mut registered = false;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            if registered && last_beat.elapsed() >= o.heartbeat_interval {
                let p = riffle_common::process::process_stats();
                link.report(ToJobManager::Heartbeat {
                    subtasks: self.attempts.reports(),
                    process: ProcessReport {
                        rss_bytes: p.rss_bytes,
                        cpu_ms: p.cpu_ms,
                    },
                });
                last_beat = Instant::now();
            }
            if last_ack.elapsed() > o.heartbeat_timeout {
                return Err(format!(
                    "the JobManager did not answer for {} ms (heartbeat.timeout)",
                    o.heartbeat_timeout.as_millis()
                ));
            }
            if link.stream.lock().map(|s| s.is_none()).unwrap_or(true) {
                return Err("the connection to the JobManager broke".into());
            }
            let msg = match receive::<ToTaskManager>(&mut reader) {
                Ok(Some(m)) => m,
                Ok(None) => return Err("the JobManager closed the connection".into()),
                Err(riffle_rpc::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(e.to_string()),
            };
            last_ack = Instant::now();
            match msg {
                ToTaskManager::Registered { jobmanager_id, .. } => {
                    registered = true;
                    self.registered.store(true, Ordering::Relaxed);
                    tracing::info!(%jobmanager_id, "registered at the JobManager");
                }
                ToTaskManager::Refused { reason } => {
                    return Err(format!("the JobManager refused registration: {reason}"));
                }
                ToTaskManager::HeartbeatAck => {}
                // Ending the session cancels every task (they belong to
                // attempts the JobManager already failed over) and registers anew.
                ToTaskManager::Disconnect { reason } => {
                    return Err(format!("the JobManager dropped this TaskManager: {reason}"));
                }
                ToTaskManager::Deploy(d) => {
                    tracing::info!(job_id = %d.job_id, attempt = d.attempt, subtasks = d.subtasks.len(), "deploying");
                    let attempts = Arc::clone(&self.attempts);
                    let reporter = Arc::clone(&link) as Arc<dyn Reporter>;
                    let spawned = std::thread::Builder::new()
                        .name("tm-deploy".into())
                        .spawn(move || deploy(&attempts, *d, reporter));
                    if let Err(e) = spawned {
                        tracing::error!(error = %e, "cannot start a deployment thread");
                    }
                }
                ToTaskManager::FetchResults {
                    job_id,
                    attempt,
                    max_rows,
                } => {
                    let rows = self.attempts.take_results(job_id, attempt, max_rows);
                    link.report(ToJobManager::Results {
                        job_id,
                        attempt,
                        rows,
                    });
                }
                ToTaskManager::Cancel { job_id, attempt } => {
                    tracing::info!(%job_id, attempt, "cancelling");
                    self.attempts.cancel(job_id, attempt);
                }
                ToTaskManager::TriggerCheckpoint {
                    job_id,
                    attempt,
                    checkpoint_id,
                    timestamp,
                    kind,
                    location,
                    direct,
                } => {
                    tracing::debug!(%job_id, checkpoint_id, %kind, "checkpoint triggered");
                    self.attempts.trigger_checkpoint(
                        job_id,
                        attempt,
                        checkpoint_id,
                        timestamp,
                        kind,
                        location,
                        &direct,
                    );
                }
                ToTaskManager::CheckpointComplete {
                    job_id,
                    attempt,
                    checkpoint_id,
                    stop,
                } => {
                    self.attempts
                        .checkpoint_complete(job_id, attempt, checkpoint_id, stop);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_port_in_use_names_the_port_and_the_key() -> std::io::Result<()> {
        let taken = TcpListener::bind("127.0.0.1:0")?;
        let port = taken.local_addr()?.port();
        let options = TaskManagerOptions {
            resource_id: ResourceId::random(),
            jobmanager: "127.0.0.1:1".into(),
            host: Some("127.0.0.1".into()),
            bind_host: "127.0.0.1".into(),
            data_port: port,
            slots: 1,
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(5),
            metrics_ports: None,
        };
        let e = TaskManager::start(options)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains(&format!("127.0.0.1:{port}")) && e.contains("taskmanager.data.port"),
            "{e}"
        );
        Ok(())
    }
}
