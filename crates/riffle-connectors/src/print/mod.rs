//! The `print` connector: writes every row to standard output (or standard
//! error) in Flink's format: `+I[1001, 2001, 123]`, prefixed with
//! `identifier> ` or, when the sink runs in parallel, `identifier:k> ` / `k> `
//! (k = subtask index + 1), exactly as Flink's `PrintSinkOutputWriter` does.

use std::io::Write;
use std::num::NonZeroUsize;
use std::sync::Arc;

use riffle_common::Chunk;
use riffle_common::config::JobConfig;
use riffle_runtime::TaskInfo;
use riffle_runtime::connector::{SinkFactory, SinkWriter};

use crate::format::write_print_row;
use crate::options::{OptionReader, check_keys};
use crate::{Connector, Result, TableDescriptor};

const OPTIONS: &[&str] = &["print-identifier", "standard-error", "sink.parallelism"];

/// The options of a `print` table, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintOptions {
    /// `print-identifier`: the prefix of every line (none by default).
    pub identifier: Option<String>,
    /// `standard-error`: print to standard error instead of standard output.
    pub standard_error: bool,
    /// `sink.parallelism` (`None` = the input's parallelism).
    pub sink_parallelism: Option<NonZeroUsize>,
}

impl PrintOptions {
    /// Checks the keys and parses every value of `table`'s options.
    pub fn parse(table: &TableDescriptor) -> Result<Self> {
        check_keys(&table.name, "print", &table.options, OPTIONS, &[])?;
        let r = OptionReader::new(table);
        Ok(PrintOptions {
            identifier: r.raw("print-identifier").map(str::to_string),
            standard_error: r.boolean("standard-error", false)?,
            sink_parallelism: r.parallelism("sink.parallelism")?,
        })
    }
}

/// The connector.
#[derive(Debug)]
pub struct PrintConnector;

impl Connector for PrintConnector {
    fn name(&self) -> &'static str {
        "print"
    }

    fn validate(&self, table: &TableDescriptor) -> Result<()> {
        PrintOptions::parse(table).map(drop)
    }

    fn sink(&self, table: &TableDescriptor, _config: &JobConfig) -> Result<Arc<dyn SinkFactory>> {
        let options = PrintOptions::parse(table)?;
        Ok(Arc::new(PrintSink {
            identifier: options.identifier,
            stderr: options.standard_error,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, &str)]) -> TableDescriptor {
        let schema = Arc::new(arrow::datatypes::Schema::empty());
        crate::test_table("out", "print", schema, pairs)
    }

    #[test]
    fn options_parse_into_the_struct() -> Result<()> {
        assert_eq!(
            PrintOptions::parse(&table(&[]))?,
            PrintOptions {
                identifier: None,
                standard_error: false,
                sink_parallelism: None,
            }
        );
        assert_eq!(
            PrintOptions::parse(&table(&[
                ("print-identifier", "q1"),
                ("standard-error", "True"),
                ("sink.parallelism", "2"),
            ]))?,
            PrintOptions {
                identifier: Some("q1".into()),
                standard_error: true,
                sink_parallelism: NonZeroUsize::new(2),
            }
        );
        Ok(())
    }

    #[test]
    fn bad_values_name_key_value_and_form() {
        let e = PrintConnector
            .validate(&table(&[("standard-error", "sometimes")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "invalid value \"sometimes\" for option 'standard-error' of table 'out': \
             expected true or false"
        );
        for p in ["0", "-1", "many"] {
            let e = PrintConnector
                .validate(&table(&[("sink.parallelism", p)]))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!(
                    "invalid value \"{p}\" for option 'sink.parallelism'"
                )) && e.contains("expected an integer between 1 and"),
                "{e}"
            );
        }
    }
}
