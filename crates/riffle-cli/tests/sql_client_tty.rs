//! `riffle sql` on a terminal: the interactive client runs in a
//! pseudo-terminal, as a user would have it, and Ctrl-C (SIGINT) stops a
//! running query and returns to the prompt instead of being swallowed by the
//! line editor.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The client's process and what it has written to the terminal so far.
struct Terminal {
    child: Child,
    master: std::fs::File,
    output: Arc<Mutex<String>>,
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Terminal {
    fn start() -> Terminal {
        let pty = nix::pty::openpty(None, None).unwrap();
        let slave = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
        let child = Command::new(env!("CARGO_BIN_EXE_riffle"))
            .arg("sql")
            .env_remove("RIFFLE_CONF_DIR")
            // A terminal the line editor fully supports (it leaves "dumb" ones alone).
            .env("TERM", "xterm")
            .env("LINES", "30")
            .env("COLUMNS", "120")
            .stdin(slave(&pty.slave))
            .stdout(slave(&pty.slave))
            .stderr(slave(&pty.slave))
            .spawn()
            .unwrap();
        drop(pty.slave);
        let master = std::fs::File::from(pty.master);
        let output = Arc::new(Mutex::new(String::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            // Ends with an error once the client exits and the terminal closes.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Terminal {
            child,
            master,
            output,
        }
    }

    /// Types a line key by key, as a person does (the line editor reads
    /// keys, not pasted blocks).
    fn type_line(&mut self, line: &str) {
        for key in line.bytes().chain([b'\r']) {
            self.master.write_all(&[key]).unwrap();
            std::thread::sleep(Duration::from_millis(3));
        }
    }

    /// Waits until the output after `from` holds `text`; returns where it ends.
    fn wait_for(&self, text: &str, from: usize) -> usize {
        let start = Instant::now();
        loop {
            {
                let out = self.output.lock().unwrap();
                if let Some(at) = out.get(from..).and_then(|s| s.find(text)) {
                    return from + at + text.len();
                }
                assert!(
                    start.elapsed() < Duration::from_secs(120),
                    "no {text:?} on the terminal; it shows:\n{}",
                    out.get(from..).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn ctrl_c_stops_a_running_query_and_the_client_goes_on() {
    let mut t = Terminal::start();
    let at = t.wait_for("Riffle SQL>", 0);
    t.type_line(
        "CREATE TABLE s (a BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '5');",
    );
    // The line editor redraws the prompt while a line is typed: wait for the
    // statement's answer, then for the next prompt.
    let at = t.wait_for("[INFO] Execute statement succeeded.", at);
    let at = t.wait_for("Riffle SQL>", at);
    t.type_line("SELECT a FROM s;");
    let at = t.wait_for("RUNNING", at);
    // What the terminal sends for Ctrl-C.
    kill(Pid::from_raw(t.child.id() as i32), Signal::SIGINT).unwrap();
    let at = t.wait_for("Query cancelled", at);
    let at = t.wait_for("Riffle SQL>", at);
    t.type_line("SHOW TABLES;");
    let at = t.wait_for("table name", at);
    t.wait_for("Riffle SQL>", at);
    t.type_line("QUIT;");
    let start = Instant::now();
    loop {
        if let Some(status) = t.child.try_wait().unwrap() {
            assert!(status.success(), "the client exited with {status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "QUIT did not end the client"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
