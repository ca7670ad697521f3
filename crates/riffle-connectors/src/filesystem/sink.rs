//! Writing files: one part file per subtask, made visible when input ends.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use riffle_common::Chunk;
use riffle_runtime::TaskInfo;
use riffle_runtime::connector::{SinkFactory, SinkWriter};

use super::Format;
use crate::format::{Style, json::write_row, write_value};

/// The sink factory of one table.
#[derive(Debug)]
pub struct FileSink {
    pub(super) dir: PathBuf,
    pub(super) format: Format,
}

impl SinkFactory for FileSink {
    fn connector(&self) -> &str {
        "filesystem"
    }

    fn accepts_updates(&self) -> bool {
        false
    }

    fn create_writer(&self, task: &TaskInfo) -> riffle_runtime::Result<Box<dyn SinkWriter>> {
        std::fs::create_dir_all(&self.dir)?;
        let name = format!("part-{}-0", task.subtask_index);
        let final_path = self.dir.join(&name);
        let tmp_path = self.dir.join(format!(".{name}.inprogress"));
        let file = File::create(&tmp_path)?;
        Ok(Box::new(FileWriter {
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            tmp_path,
            final_path,
            format: self.format,
            line: String::new(),
        }))
    }
}

struct FileWriter {
    out: Option<BufWriter<File>>,
    tmp_path: PathBuf,
    final_path: PathBuf,
    format: Format,
    line: String,
}

impl SinkWriter for FileWriter {
    fn write(&mut self, chunk: &Chunk) -> riffle_runtime::Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Err(riffle_runtime::Error::Internal("write after finish".into()));
        };
        if !chunk.is_insert_only() {
            return Err(riffle_runtime::Error::User(
                "the filesystem sink received an update or delete; it only supports append-only input".into(),
            ));
        }
        self.line.clear();
        for row in 0..chunk.num_rows() {
            match self.format {
                Format::Json => write_row(&chunk.data, row, &mut self.line),
                Format::Csv => {
                    for (i, col) in chunk.data.columns().iter().enumerate() {
                        if i > 0 {
                            self.line.push(',');
                        }
                        write_value(col.as_ref(), row, Style::Csv, &mut self.line);
                    }
                }
            }
            self.line.push('\n');
        }
        out.write_all(self.line.as_bytes())?;
        Ok(())
    }

    fn finish(&mut self) -> riffle_runtime::Result<()> {
        if let Some(mut out) = self.out.take() {
            out.flush()?;
            drop(out);
            std::fs::rename(&self.tmp_path, &self.final_path)?;
        }
        Ok(())
    }
}
