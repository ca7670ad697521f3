//! The changelog tap: with `riffle.sink.tap-dir` set, every sink also writes
//! the changelog it receives to `<dir>/<table>.jsonl`, one line per row:
//! `{"kind":"+U","row":[...]}` with exact values (decimals as strings,
//! timestamps as `yyyy-MM-dd HH:mm:ss.SSS`). Tests fold it into a final table
//! and compare it with Apache Flink's result for the same query.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use riffle_common::Chunk;
use riffle_runtime::TaskInfo;
use riffle_runtime::connector::{SinkFactory, SinkWriter};

use crate::format::json::write_row_values;

/// Builds the tap for one sink table.
pub fn tap(dir: &str, table: &str) -> Arc<dyn SinkFactory> {
    Arc::new(TapSink {
        dir: PathBuf::from(dir),
        table: table.to_string(),
    })
}

#[derive(Debug)]
struct TapSink {
    dir: PathBuf,
    table: String,
}

impl SinkFactory for TapSink {
    fn connector(&self) -> &str {
        "tap"
    }

    fn accepts_updates(&self) -> bool {
        true
    }

    fn create_writer(&self, task: &TaskInfo) -> riffle_runtime::Result<Box<dyn SinkWriter>> {
        std::fs::create_dir_all(&self.dir)?;
        let name = if task.parallelism > 1 {
            format!("{}.{}.jsonl", self.table, task.subtask_index)
        } else {
            format!("{}.jsonl", self.table)
        };
        let file = File::create(self.dir.join(name))?;
        Ok(Box::new(TapWriter {
            out: BufWriter::new(file),
            line: String::new(),
        }))
    }
}

struct TapWriter {
    out: BufWriter<File>,
    line: String,
}

impl SinkWriter for TapWriter {
    fn write(&mut self, chunk: &Chunk) -> riffle_runtime::Result<()> {
        for row in 0..chunk.num_rows() {
            self.line.clear();
            self.line.push_str("{\"kind\":\"");
            self.line.push_str(chunk.kind(row).short_string());
            self.line.push_str("\",\"row\":");
            write_row_values(&chunk.data, row, &mut self.line);
            self.line.push_str("}\n");
            self.out.write_all(self.line.as_bytes())?;
        }
        Ok(())
    }

    fn finish(&mut self) -> riffle_runtime::Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
