//! The `blackhole` connector: a sink that discards everything (Flink's
//! benchmark sink). It accepts updates.

use std::num::NonZeroUsize;
use std::sync::Arc;

use riffle_common::Chunk;
use riffle_common::config::JobConfig;
use riffle_runtime::TaskInfo;
use riffle_runtime::connector::{SinkFactory, SinkWriter};

use crate::options::{OptionReader, check_keys};
use crate::{Connector, Result, TableDescriptor};

/// The options of a `blackhole` table, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlackholeOptions {
    /// `sink.parallelism` (`None` = the input's parallelism).
    pub sink_parallelism: Option<NonZeroUsize>,
}

impl BlackholeOptions {
    /// Checks the keys and parses every value of `table`'s options.
    pub fn parse(table: &TableDescriptor) -> Result<Self> {
        check_keys(
            &table.name,
            "blackhole",
            &table.options,
            &["sink.parallelism"],
            &[],
        )?;
        Ok(BlackholeOptions {
            sink_parallelism: OptionReader::new(table).parallelism("sink.parallelism")?,
        })
    }
}

/// The connector.
#[derive(Debug)]
pub struct BlackholeConnector;

impl Connector for BlackholeConnector {
    fn name(&self) -> &'static str {
        "blackhole"
    }

    fn validate(&self, table: &TableDescriptor) -> Result<()> {
        BlackholeOptions::parse(table).map(drop)
    }

    fn sink(&self, table: &TableDescriptor, _config: &JobConfig) -> Result<Arc<dyn SinkFactory>> {
        // Nothing to configure: parsed for the errors only.
        BlackholeOptions::parse(table)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, &str)]) -> TableDescriptor {
        let schema = Arc::new(arrow::datatypes::Schema::empty());
        crate::test_table("sink", "blackhole", schema, pairs)
    }

    #[test]
    fn options_parse_into_the_struct() -> Result<()> {
        assert_eq!(BlackholeOptions::parse(&table(&[]))?.sink_parallelism, None);
        assert_eq!(
            BlackholeOptions::parse(&table(&[("sink.parallelism", "3")]))?.sink_parallelism,
            NonZeroUsize::new(3)
        );
        Ok(())
    }

    #[test]
    fn bad_values_name_key_value_and_form() {
        let e = BlackholeConnector
            .validate(&table(&[("sink.parallelism", "0")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "invalid value \"0\" for option 'sink.parallelism' of table 'sink': \
             expected an integer between 1 and 2147483647"
        );
        let e = BlackholeConnector
            .validate(&table(&[("sink.paralelism", "2")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("'sink.parallelism'"), "{e}");
    }
}
