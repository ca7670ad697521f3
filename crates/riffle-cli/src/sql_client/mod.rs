//! `riffle sql`: an interactive SQL client, as Flink's `sql-client.sh`.
//!
//! Statements are read with line editing and history (or from `-f FILE`,
//! or from standard input when it is not a terminal) and split at `;`, so a
//! statement may span lines. DDL, `SET`/`RESET`, `SHOW TABLES`, `DESCRIBE`
//! and `EXPLAIN` run against a local catalog, the same planner the cluster
//! uses, so mistakes are reported with line and column before anything is
//! submitted. An `INSERT` is submitted as a job with the session's DDL and
//! settings. A `SELECT` is submitted too, with its rows kept on the cluster
//! for the client ([`riffle_common::config::RESULT_COLLECT`]); the client
//! pages through them over REST and shows them as a table that updates
//! ([`view`]). Ctrl-C stops a running query and returns to the prompt.
//!
//! Without `-m` the client starts an embedded cluster in this process.

mod split;
mod view;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use riffle_common::config::{Configuration, Origin, RESULT_COLLECT};
use riffle_runtime::metrics::JobMetrics;
use riffle_sql::Session;
use riffle_sql::statements::Statement;
use serde_json::{Value, json};

use crate::client::Client;
use crate::minicluster::MiniCluster;
use split::Splitter;
use view::ResultView;

/// Arguments of `riffle sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// The JobManager's REST address (host:port); without it an embedded
    /// cluster runs in this process.
    #[arg(short = 'm', long = "jobmanager", value_name = "HOST:PORT")]
    pub jobmanager: Option<String>,
    /// Run the statements of this file, then exit (stops at the first error).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// A session setting, as `SET 'key' = 'value'` would make it; repeatable.
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    pub define: Vec<String>,
}

/// Slots of the embedded cluster.
const EMBEDDED_SLOTS: usize = 16;

/// `riffle sql`.
pub fn sql(args: SqlArgs) -> Result<ExitCode> {
    let mut settings = BTreeMap::new();
    for d in &args.define {
        let (k, v) = d
            .split_once('=')
            .ok_or_else(|| anyhow!("-D {d}: expected key=value"))?;
        settings.insert(k.trim().to_string(), v.trim().to_string());
    }
    let (target, embedded) = match &args.jobmanager {
        Some(m) => (m.clone(), None),
        None => {
            let config = crate::config_cmd::load(&args.define)?;
            let cluster = MiniCluster::start(&config, EMBEDDED_SLOTS)?;
            (cluster.rest_address(), Some(cluster))
        }
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    }
    let mut session_config = Configuration::new();
    for d in &args.define {
        session_config.set_pair(d, Origin::Dynamic)?;
    }
    for warning in session_config.warnings() {
        tracing::warn!("{warning}");
    }
    let mut client = SqlClient {
        rest: Client::new(&target),
        session: Session::new(session_config),
        ddl: Vec::new(),
        settings,
        interrupted,
        tty: std::io::stdout().is_terminal(),
        _embedded: embedded,
    };
    if let Some(file) = &args.file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read SQL file '{}'", file.display()))?;
        return client.run_script(&text);
    }
    if !std::io::stdin().is_terminal() {
        let text =
            std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?;
        return client.run_script(&text);
    }
    client.interactive(&target)
}

struct SqlClient {
    rest: Client,
    /// The local catalog: checks statements and answers SHOW/DESCRIBE.
    session: Session,
    /// The session's DDL, in order: the prefix of every submitted script.
    ddl: Vec<String>,
    /// `SET` values, sent as the configuration of every submitted job.
    settings: BTreeMap<String, String>,
    interrupted: Arc<AtomicBool>,
    tty: bool,
    _embedded: Option<MiniCluster>,
}

/// What became of a statement.
enum Outcome {
    Continue,
    Quit,
}

impl SqlClient {
    fn run_script(&mut self, text: &str) -> Result<ExitCode> {
        let mut splitter = Splitter::default();
        for stmt in splitter.push(text) {
            match self.execute(&stmt) {
                Ok(Outcome::Continue) => {}
                Ok(Outcome::Quit) => return Ok(ExitCode::SUCCESS),
                Err(e) => {
                    println!("[ERROR] Could not execute SQL statement. Reason:\n{e:#}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        if splitter.is_pending() {
            println!(
                "[ERROR] The script ends inside a statement (missing ';'): {}",
                splitter.rest()
            );
            return Ok(ExitCode::from(1));
        }
        Ok(ExitCode::SUCCESS)
    }

    fn interactive(&mut self, target: &str) -> Result<ExitCode> {
        let mut editor = rustyline::DefaultEditor::new().context("cannot start the line editor")?;
        let history =
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".riffle_sql_history"));
        if let Some(h) = &history {
            let _ = editor.load_history(h);
        }
        println!(
            "Riffle SQL client, connected to {target}. Statements end with ';'. \
             HELP; lists the commands, QUIT; leaves."
        );
        let mut splitter = Splitter::default();
        loop {
            let prompt = if splitter.is_pending() {
                "> "
            } else {
                "Riffle SQL> "
            };
            let line = match editor.readline(prompt) {
                Ok(l) => l,
                Err(rustyline::error::ReadlineError::Interrupted) => {
                    splitter = Splitter::default();
                    continue;
                }
                Err(rustyline::error::ReadlineError::Eof) => break,
                Err(e) => return Err(e).context("cannot read a line"),
            };
            for stmt in splitter.push(&line) {
                let _ = editor.add_history_entry(format!("{stmt};"));
                self.interrupted.store(false, Ordering::Relaxed);
                match self.execute(&stmt) {
                    Ok(Outcome::Continue) => {}
                    Ok(Outcome::Quit) => {
                        save_history(&mut editor, history.as_ref());
                        return Ok(ExitCode::SUCCESS);
                    }
                    Err(e) => println!("[ERROR] Could not execute SQL statement. Reason:\n{e:#}"),
                }
            }
        }
        save_history(&mut editor, history.as_ref());
        Ok(ExitCode::SUCCESS)
    }

    fn execute(&mut self, stmt: &str) -> Result<Outcome> {
        let word = stmt
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match word.as_str() {
            "QUIT" | "EXIT" => return Ok(Outcome::Quit),
            "HELP" => {
                println!("{HELP}");
                return Ok(Outcome::Continue);
            }
            "CLEAR" => {
                // Only a terminal is cleared; a redirected output gets no escape codes.
                if self.tty {
                    print!("\x1b[2J\x1b[H");
                }
                return Ok(Outcome::Continue);
            }
            _ => {}
        }
        let parsed = riffle_sql::parse_statements(stmt)?;
        let Some(first) = parsed.first() else {
            return Ok(Outcome::Continue);
        };
        let kind = first.statement.clone();
        let script = self
            .session
            .run_script(stmt, &Arc::new(JobMetrics::default()))?;
        match kind {
            Statement::CreateTable(_)
            | Statement::CreateView { .. }
            | Statement::CreateFunction { .. }
            | Statement::Drop { .. } => {
                self.ddl.push(stmt.to_string());
                println!("[INFO] Execute statement succeeded.");
            }
            Statement::Set(Some((k, v))) => {
                self.settings.insert(k, v);
                println!("[INFO] Execute statement succeeded.");
            }
            Statement::Reset(key) => {
                match key {
                    Some(k) => {
                        self.settings.remove(&k);
                    }
                    None => self.settings.clear(),
                }
                println!("[INFO] Execute statement succeeded.");
            }
            Statement::Insert(_) | Statement::StatementSet(_) => {
                println!("[INFO] Submitting SQL update statement to the cluster...");
                let id = self.submit(stmt, false)?;
                println!(
                    "[INFO] SQL update statement has been successfully submitted to the cluster:\nJob ID: {id}"
                );
            }
            Statement::Query(_) => {
                let columns = script.query_columns.first().cloned().unwrap_or_default();
                self.query(stmt, columns)?;
            }
            Statement::Set(None)
            | Statement::ShowTables
            | Statement::Describe(_)
            | Statement::Explain(_) => {
                for m in &script.messages {
                    println!("{m}");
                }
            }
        }
        Ok(Outcome::Continue)
    }

    /// Submits the session's DDL followed by `stmt`; returns the job id.
    fn submit(&self, stmt: &str, collect: bool) -> Result<String> {
        let mut script = String::new();
        for d in &self.ddl {
            script.push_str(d);
            script.push_str(";\n");
        }
        script.push_str(stmt);
        script.push_str(";\n");
        let mut conf: serde_json::Map<String, Value> = self
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        if collect {
            conf.insert(RESULT_COLLECT.into(), Value::String("true".into()));
        }
        self.rest
            .submit_sql(&json!({ "script": script, "flinkConfiguration": conf }))
    }

    /// Runs a query and shows its result until it ends or Ctrl-C.
    fn query(&self, stmt: &str, columns: Vec<String>) -> Result<()> {
        let id = self.submit(stmt, true)?;
        let mut view = ResultView::new(columns);
        let mut out = std::io::stdout().lock();
        if !self.tty {
            let _ = writeln!(out, "{}", view.changelog_header());
        }
        let height = std::env::var("LINES")
            .ok()
            .and_then(|l| l.parse().ok())
            .unwrap_or(30);
        let mut token = 0u64;
        let mut last_draw = Instant::now() - Duration::from_secs(1);
        let mut status = String::from("RUNNING");
        loop {
            if self.interrupted.swap(false, Ordering::Relaxed) {
                self.rest.cancel_job(&id)?;
                if self.tty {
                    view.redraw(&mut out, "CANCELED", height);
                }
                let _ = writeln!(out, "[INFO] Query cancelled (job {id}).");
                return Ok(());
            }
            let page = self
                .rest
                .get(&format!("/sql/jobs/{id}/results?token={token}"))?;
            status = page["jobStatus"].as_str().unwrap_or(&status).to_string();
            let rows = page["results"]["data"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for r in &rows {
                let kind = r["kind"].as_str().unwrap_or("INSERT");
                let fields: Vec<Option<String>> = r["fields"]
                    .as_array()
                    .map(|f| f.iter().map(|v| v.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                view.apply(kind, &fields);
                if !self.tty {
                    let _ = writeln!(out, "{}", ResultView::changelog_line(kind, &fields));
                }
            }
            let end = page["resultType"] == "EOS";
            if self.tty && (end || last_draw.elapsed() >= Duration::from_millis(250)) {
                view.redraw(
                    &mut out,
                    &format!("job {id} {status} | Ctrl-C stops"),
                    height,
                );
                last_draw = Instant::now();
            }
            if end {
                break;
            }
            token += 1;
            if rows.is_empty() {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        if status == "FAILED" {
            let ex = self.rest.get(&format!("/jobs/{id}/exceptions"))?;
            let cause = ex["exceptionHistory"]["entries"][0]["stacktrace"]
                .as_str()
                .unwrap_or("unknown cause");
            bail!("the query failed (job {id}): {cause}");
        }
        if !self.tty {
            let _ = writeln!(out, "Received a total of {} rows", view.changes());
        }
        Ok(())
    }
}

fn save_history(editor: &mut rustyline::DefaultEditor, path: Option<&PathBuf>) {
    if let Some(p) = path {
        let _ = editor.save_history(p);
    }
}

const HELP: &str = "Statements (end each with ';'):
  CREATE TABLE | CREATE VIEW | CREATE FUNCTION | DROP ...   define the session's catalog
  SET 'key' = 'value'; SET; RESET ['key']                   session configuration
  SHOW TABLES; DESCRIBE name; EXPLAIN statement             inspect
  INSERT INTO ... | EXECUTE STATEMENT SET BEGIN ... END     submit a job
  SELECT ...                                                run a query and show its result
  CLEAR; HELP; QUIT;
Ctrl-C stops a running query.";
