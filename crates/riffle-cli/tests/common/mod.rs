//! A real cluster on 127.0.0.1 for integration tests: a JobManager and
//! TaskManagers as separate `riffle` processes, driven through the REST API.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // shared by test crates; a failed unwrap is a failed test

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Kills its processes when dropped, so a failed test leaves nothing behind.
pub struct Cluster {
    pub processes: Vec<Child>,
    /// The Prometheus port of each process, in the same order.
    pub metrics_ports: Vec<u16>,
    /// Configuration lines added for every process.
    pub extra: String,
    pub rest: String,
    pub rpc_port: u16,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in &mut self.processes {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

/// Sends `signal` (e.g. `-TERM`, `-STOP`) to a child process.
pub fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal}");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn properties(rpc_port: u16, rest_port: u16, prom_port: u16) -> String {
    format!(
        "jobmanager.rpc.address: 127.0.0.1\njobmanager.rpc.port: {rpc_port}\n\
         metrics.reporter.prom.port: {prom_port}\n\
         rest.address: 127.0.0.1\nrest.bind-address: 127.0.0.1\nrest.port: {rest_port}\n\
         taskmanager.bind-host: 127.0.0.1\ntaskmanager.host: 127.0.0.1\n\
         taskmanager.numberOfTaskSlots: 2\nheartbeat.interval: 500 ms\nheartbeat.timeout: 5 s\n"
    )
}

impl Cluster {
    pub fn start(taskmanagers: usize) -> Cluster {
        Self::start_with(taskmanagers, "")
    }

    pub fn start_with(taskmanagers: usize, extra: &str) -> Cluster {
        let (rpc_port, rest_port) = (free_port(), free_port());
        let mut c = Cluster {
            processes: Vec::new(),
            metrics_ports: Vec::new(),
            extra: extra.to_string(),
            rest: format!("127.0.0.1:{rest_port}"),
            rpc_port,
        };
        c.spawn("jobmanager");
        for _ in 0..taskmanagers {
            c.spawn("taskmanager");
        }
        c.wait_for(
            |o| o["taskmanagers"].as_u64() == Some(taskmanagers as u64),
            "/overview",
        );
        c
    }

    pub fn spawn(&mut self, role: &str) {
        self.spawn_with(role, Stdio::null(), Stdio::null());
    }

    /// Starts a process whose standard output (where `print` sinks write) goes
    /// to `stdout` and whose log goes to `stderr`.
    pub fn spawn_with(&mut self, role: &str, stdout: Stdio, stderr: Stdio) -> &mut Child {
        let rest_port: u16 = self.rest.rsplit(':').next().unwrap().parse().unwrap();
        let prom_port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_riffle"))
            .arg(role)
            .env(
                "RIFFLE_PROPERTIES",
                properties(self.rpc_port, rest_port, prom_port) + &self.extra,
            )
            .env_remove("RIFFLE_CONF_DIR")
            .env_remove("RIFFLE_LOG")
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap();
        self.processes.push(child);
        self.metrics_ports.push(prom_port);
        self.processes.last_mut().unwrap()
    }

    /// The Prometheus exposition of process `i` (0 is the JobManager).
    pub fn scrape(&self, i: usize) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.metrics_ports[i]);
        ureq::get(&url)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    }

    /// `POST /v1{path}` with a JSON body; the status and the answer.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent
            .post(format!("http://{}/v1{path}", self.rest))
            .send_json(body)
            .unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_json().unwrap_or(Value::Null))
    }

    pub fn get(&self, path: &str) -> Value {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        match agent.get(format!("http://{}/v1{path}", self.rest)).call() {
            Ok(mut r) => r.body_mut().read_json().unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    pub fn wait_for(&self, ok: impl Fn(&Value) -> bool, path: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.get(path);
            if ok(&v) {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out waiting on {path}: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `riffle run -m ... -d -p 4 EXTRA FILE`; returns the job id.
    pub fn submit(&self, file: &str, extra: &[&str]) -> String {
        let mut args = vec!["-p", "4"];
        args.extend_from_slice(extra);
        self.submit_with(file, &args)
    }

    /// `riffle run -m ... -d ARGS FILE`; returns the job id.
    pub fn submit_with(&self, file: &str, extra: &[&str]) -> String {
        let mut args = vec!["run", "-m", &self.rest, "-d"];
        args.extend_from_slice(extra);
        args.push(file);
        let o = Command::new(env!("CARGO_BIN_EXE_riffle"))
            .args(&args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        stdout.trim().rsplit(' ').next().unwrap().to_string()
    }

    pub fn wait_finished(&self, id: &str) {
        self.wait_for(
            |v| {
                let s = v["status"].as_str().unwrap_or("");
                assert!(s != "FAILED" && s != "CANCELED", "job ended {s}");
                s == "FINISHED"
            },
            &format!("/jobs/{id}/status"),
        );
    }
}

/// `riffle stop -p DIR ID`: stops the job with a savepoint; returns its path.
pub fn stop_with_savepoint(cluster: &Cluster, id: &str, dir: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["stop", "-m", &cluster.rest, "-p", dir.to_str().unwrap(), id])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix("Savepoint completed. Path: "))
        .unwrap()
        .to_string()
}
