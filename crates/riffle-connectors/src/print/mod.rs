//! The `print` connector: writes every row to standard output (or standard
//! error) in Flink's format: `+I[1001, 2001, 123]`, prefixed with
//! `identifier> ` or, when the sink runs in parallel, `identifier:k> ` / `k> `
//! (k = subtask index + 1), exactly as Flink's `PrintSinkOutputWriter` does.

use std::io::Write;
use std::sync::Arc;

use riffle_common::Chunk;
use riffle_common::config::Configuration;
use riffle_runtime::TaskInfo;
use riffle_runtime::connector::{SinkFactory, SinkWriter};

use crate::format::write_print_row;
use crate::options::{check_keys, get_bool};
use crate::{Connector, Result, TableDescriptor};

const OPTIONS: &[&str] = &["print-identifier", "standard-error", "sink.parallelism"];

/// The connector.
#[derive(Debug)]
pub struct PrintConnector;

impl Connector for PrintConnector {
    fn name(&self) -> &'static str {
        "print"
    }

    fn validate(&self, table: &TableDescriptor) -> Result<()> {
        check_keys(&table.name, self.name(), &table.options, OPTIONS, &[])?;
        get_bool(&table.options, "standard-error", false)?;
        Ok(())
    }

    fn sink(
        &self,
        table: &TableDescriptor,
        _config: &Configuration,
    ) -> Result<Arc<dyn SinkFactory>> {
        self.validate(table)?;
        Ok(Arc::new(PrintSink {
            identifier: table.options.get("print-identifier").cloned(),
            stderr: get_bool(&table.options, "standard-error", false)?,
        }))
    }
}

#[derive(Debug)]
struct PrintSink {
    identifier: Option<String>,
    stderr: bool,
}

impl SinkFactory for PrintSink {
    fn connector(&self) -> &str {
        "print"
    }

    fn accepts_updates(&self) -> bool {
        true
    }

    fn create_writer(&self, task: &TaskInfo) -> riffle_runtime::Result<Box<dyn SinkWriter>> {
        let prefix = match (&self.identifier, task.parallelism > 1) {
            (Some(id), true) => format!("{id}:{}> ", task.subtask_index + 1),
            (Some(id), false) => format!("{id}> "),
            (None, true) => format!("{}> ", task.subtask_index + 1),
            (None, false) => String::new(),
        };
        Ok(Box::new(PrintWriter {
            prefix,
            stderr: self.stderr,
            buf: String::new(),
        }))
    }
}

struct PrintWriter {
    prefix: String,
    stderr: bool,
    buf: String,
}

impl SinkWriter for PrintWriter {
    fn write(&mut self, chunk: &Chunk) -> riffle_runtime::Result<()> {
        self.buf.clear();
        for row in 0..chunk.num_rows() {
            self.buf.push_str(&self.prefix);
            write_print_row(&chunk.data, row, chunk.kind(row), &mut self.buf);
            self.buf.push('\n');
        }
        let res = if self.stderr {
            std::io::stderr().lock().write_all(self.buf.as_bytes())
        } else {
            std::io::stdout().lock().write_all(self.buf.as_bytes())
        };
        match res {
            Ok(()) => Ok(()),
            // A closed pipe (`riffle run q.sql | head`) is not an error of the job.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn finish(&mut self) -> riffle_runtime::Result<()> {
        let _ = std::io::stdout().flush();
        Ok(())
    }
}
