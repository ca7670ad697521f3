//! Riffle's Kafka connector: `'connector' = 'kafka'` tables as sources and
//! sinks, with the options of Flink's Kafka SQL connector.
//!
//! Place in the data path: the planner (`riffle-sql`) finds
//! [`KafkaConnector`] in its registry by the table's `connector` option;
//! the connector reads the table's options once ([`options`]) and returns a
//! source factory ([`source`]: one consumer per subtask reading the
//! partitions it owns, offsets kept as splits in checkpoints) or a sink
//! factory ([`sink`]: one producer per subtask). Record values are decoded
//! and encoded by the same formats as files (`riffle-connectors`' `format`).
//!
//! The client is librdkafka (through `rdkafka`), used synchronously from the
//! subtask's thread: the runtime polls sources and pushes to sinks, so no
//! async runtime is involved.

mod error;
pub mod metadata;
pub mod options;
pub mod sink;
pub mod source;
pub mod split;

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use riffle_common::config::JobConfig;
use riffle_connectors::{Connector, TableDescriptor};
use riffle_runtime::connector::{SinkFactory, SourceFactory};

pub use error::{Error, Result};
use options::{Format, KafkaOptions};

/// `'connector' = 'kafka'`.
#[derive(Debug, Clone, Copy)]
pub struct KafkaConnector;

impl KafkaConnector {
    /// The table's options, checked against its columns.
    fn options(table: &TableDescriptor) -> Result<KafkaOptions> {
        let options = KafkaOptions::parse(table)?;
        check_columns(table, options.format)?;
        Ok(options)
    }
}

impl Connector for KafkaConnector {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn readable_metadata(&self) -> &'static [(&'static str, &'static str)] {
        metadata::READABLE
    }

    fn writable_metadata(&self) -> &'static [(&'static str, &'static str)] {
        metadata::WRITABLE
    }

    fn validate(&self, table: &TableDescriptor) -> riffle_connectors::Result<()> {
        Self::options(table)?;
        Ok(())
    }

    fn source(
        &self,
        table: &TableDescriptor,
        projection: Option<Vec<usize>>,
        _config: &JobConfig,
    ) -> riffle_connectors::Result<Arc<dyn SourceFactory>> {
        let options = Self::options(table)?;
        Ok(Arc::new(source::KafkaSourceFactory::new(
            options, table, projection,
        )?))
    }

    fn sink(
        &self,
        table: &TableDescriptor,
        _config: &JobConfig,
    ) -> riffle_connectors::Result<Arc<dyn SinkFactory>> {
        let options = Self::options(table)?;
        if matches!(options.topics, options::Topics::Pattern(_)) {
            return Err(Error::Options(format!(
                "table '{}': a sink writes to one 'topic'; 'topic-pattern' is for sources",
                table.name
            ))
            .into());
        }
        Ok(Arc::new(sink::KafkaSinkFactory::new(options, table)?))
    }
}

/// The columns a format can hold: `raw` one STRING or BYTES column, `csv`
/// flat columns.
fn check_columns(table: &TableDescriptor, format: Format) -> Result<()> {
    let record = table.record_schema();
    let fields = record.fields();
    match format {
        Format::Raw => {
            let ok = fields.len() == 1
                && matches!(fields[0].data_type(), DataType::Utf8 | DataType::Binary);
            if !ok {
                return Err(Error::Options(format!(
                    "table '{}': the 'raw' format holds exactly one physical column of type \
                     STRING or BYTES; the table has {}",
                    table.name,
                    describe(&record)
                )));
            }
        }
        Format::Csv => {
            if let Some(f) = fields.iter().find(|f| {
                matches!(
                    f.data_type(),
                    DataType::Struct(_) | DataType::List(_) | DataType::Map(..)
                )
            }) {
                return Err(Error::Options(format!(
                    "table '{}': the 'csv' format holds flat columns; column '{}' is {}",
                    table.name,
                    f.name(),
                    f.data_type()
                )));
            }
        }
        Format::Json => {}
    }
    Ok(())
}

fn describe(schema: &SchemaRef) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}
