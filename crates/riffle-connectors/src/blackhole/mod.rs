//! The `blackhole` connector: a sink that discards everything (Flink's
//! benchmark sink). It accepts updates.

use std::sync::Arc;

use riffle_common::Chunk;
use riffle_common::config::Configuration;
use riffle_runtime::TaskInfo;
use riffle_runtime::connector::{SinkFactory, SinkWriter};

use crate::options::check_keys;
use crate::{Connector, Result, TableDescriptor};

/// The connector.
#[derive(Debug)]
pub struct BlackholeConnector;

impl Connector for BlackholeConnector {
    fn name(&self) -> &'static str {
        "blackhole"
    }

    fn validate(&self, table: &TableDescriptor) -> Result<()> {
        check_keys(
            &table.name,
            self.name(),
            &table.options,
            &["sink.parallelism"],
            &[],
        )
    }

    fn sink(
        &self,
        table: &TableDescriptor,
        _config: &Configuration,
    ) -> Result<Arc<dyn SinkFactory>> {
        self.validate(table)?;
        Ok(Arc::new(BlackholeSink))
    }
}

/// Discards rows.
#[derive(Debug)]
struct BlackholeSink;

impl SinkFactory for BlackholeSink {
    fn connector(&self) -> &str {
        "blackhole"
    }

    fn accepts_updates(&self) -> bool {
        true
    }

    fn create_writer(&self, _task: &TaskInfo) -> riffle_runtime::Result<Box<dyn SinkWriter>> {
        Ok(Box::new(BlackholeWriter))
    }
}

struct BlackholeWriter;

impl SinkWriter for BlackholeWriter {
    fn write(&mut self, _chunk: &Chunk) -> riffle_runtime::Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> riffle_runtime::Result<()> {
        Ok(())
    }
}
