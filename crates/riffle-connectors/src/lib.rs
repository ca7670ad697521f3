//! Riffle's connectors, keyed by Flink's `connector` option value.
//!
//! Place in the data path: the planner (`riffle-sql`) looks a table's
//! `connector` up in its registry (these connectors and the ones of
//! separate crates such as `riffle-kafka`) with [`find_for`], lets the
//! connector check the table's
//! `WITH (...)` options (unknown keys are an error that lists the allowed
//! ones), and stores the source or sink factories it returns in the job graph;
//! the runtime (`riffle-runtime`) then creates one reader or writer per subtask.
//!
//! Must not depend on: the SQL layer.

mod error;

pub mod blackhole;
pub mod collect;
pub mod datagen;
pub mod filesystem;
pub mod format;
pub mod legacy;
pub mod nexmark;
pub mod options;
pub mod print;
pub mod tap;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use riffle_common::config::JobConfig;
use riffle_runtime::connector::{SinkFactory, SourceFactory};

pub use error::{Error, Result};

/// A table as the connectors see it: name, physical columns and options.
#[derive(Debug, Clone)]
pub struct TableDescriptor {
    /// The table's name in the catalog.
    pub name: String,
    /// Physical columns (computed columns are the planner's business).
    pub schema: SchemaRef,
    /// The `WITH (...)` options, `connector` included.
    pub options: BTreeMap<String, String>,
    /// The `PARTITIONED BY (...)` columns, in order (empty if none); the
    /// planner checked they are physical columns.
    pub partition_keys: Vec<String>,
    /// The columns of `schema` that are metadata (`METADATA [FROM 'key']
    /// [VIRTUAL]`), not part of the format's record.
    pub metadata: Vec<MetadataColumn>,
}

/// A metadata column of a table: a value the connector reads or writes
/// beside the record (Kafka's topic, partition, offset, timestamp, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataColumn {
    /// The column's name in the table.
    pub name: String,
    /// The connector's key (`FROM 'key'`, else the column's name).
    pub key: String,
    /// `VIRTUAL`: read only, never written by an INSERT.
    pub is_virtual: bool,
}

impl TableDescriptor {
    /// Whether column `name` is a metadata column.
    pub fn is_metadata(&self, name: &str) -> bool {
        self.metadata.iter().any(|m| m.name == name)
    }

    /// The columns of the record itself (the format's), without metadata.
    pub fn record_schema(&self) -> SchemaRef {
        let fields: Vec<_> = self
            .schema
            .fields()
            .iter()
            .filter(|f| !self.is_metadata(f.name()))
            .cloned()
            .collect();
        Arc::new(arrow::datatypes::Schema::new(fields))
    }

    /// The columns an INSERT writes: all but the virtual metadata columns.
    pub fn persisted_schema(&self) -> SchemaRef {
        let fields: Vec<_> = self
            .schema
            .fields()
            .iter()
            .filter(|f| {
                !self
                    .metadata
                    .iter()
                    .any(|m| m.is_virtual && m.name == *f.name())
            })
            .cloned()
            .collect();
        Arc::new(arrow::datatypes::Schema::new(fields))
    }
}

/// A connector: validates options and builds sources and sinks.
pub trait Connector: Send + Sync {
    /// Flink's `connector` option value.
    fn name(&self) -> &'static str;

    /// Checks the table's options and column types; called at planning time.
    fn validate(&self, table: &TableDescriptor) -> Result<()>;

    /// The metadata keys a source of this connector reads, with their
    /// Flink types (for messages).
    fn readable_metadata(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// The metadata keys a sink of this connector writes.
    fn writable_metadata(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// Whether the connector can write (or read) a `PARTITIONED BY` table.
    fn supports_partitioning(&self) -> bool {
        false
    }

    /// A source over the given physical columns (`projection` = indices into
    /// the table schema, `None` = all).
    fn source(
        &self,
        table: &TableDescriptor,
        projection: Option<Vec<usize>>,
        config: &JobConfig,
    ) -> Result<Arc<dyn SourceFactory>> {
        let _ = (projection, config);
        Err(Error::Unsupported(format!(
            "connector '{}' cannot be used as a source (table '{}')",
            self.name(),
            table.name
        )))
    }

    /// A sink writing the given columns.
    fn sink(&self, table: &TableDescriptor, config: &JobConfig) -> Result<Arc<dyn SinkFactory>> {
        let _ = config;
        Err(Error::Unsupported(format!(
            "connector '{}' cannot be used as a sink (table '{}')",
            self.name(),
            table.name
        )))
    }
}

/// Looks a connector up in `registry` by its `connector` option value.
pub fn find(registry: &[&'static dyn Connector], name: &str) -> Result<&'static dyn Connector> {
    registry
        .iter()
        .copied()
        .find(|c| c.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = registry.iter().map(|c| c.name()).collect();
            Error::Options(format!(
                "unknown connector '{name}'; available connectors: {}",
                names.join(", ")
            ))
        })
}

/// The connector of a table in `registry`, from its `connector` option.
/// Fails as well if the table is `PARTITIONED BY` and the connector has no
/// partitions.
pub fn find_for(
    registry: &[&'static dyn Connector],
    table: &TableDescriptor,
) -> Result<&'static dyn Connector> {
    let name = table.options.get("connector").ok_or_else(|| {
        Error::Options(format!(
            "table '{}' has no 'connector' option; add WITH ('connector' = '...')",
            table.name
        ))
    })?;
    let c = find(registry, name)?;
    for m in &table.metadata {
        let readable = c.readable_metadata().iter().any(|(k, _)| *k == m.key);
        let writable = c.writable_metadata().iter().any(|(k, _)| *k == m.key);
        if !readable && !writable {
            let list = |keys: &[(&str, &str)]| {
                keys.iter()
                    .map(|(k, t)| format!("'{k}' {t}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Error::Options(if c.readable_metadata().is_empty() {
                format!(
                    "metadata column '{}' of table '{}': connector '{name}' has no metadata",
                    m.name, table.name
                )
            } else {
                format!(
                    "invalid metadata key '{}' in column '{}' of table '{}'; connector '{name}' \
                     reads the keys {} and writes {}",
                    m.key,
                    m.name,
                    table.name,
                    list(c.readable_metadata()),
                    list(c.writable_metadata())
                )
            }));
        }
    }
    if !table.partition_keys.is_empty() && !c.supports_partitioning() {
        return Err(Error::Unsupported(format!(
            "connector '{name}' does not support PARTITIONED BY (table '{}'); \
             only the 'filesystem' connector writes partitions",
            table.name
        )));
    }
    Ok(c)
}

/// A table for connector tests: `connector` and `pairs` as its `WITH` options.
#[cfg(test)]
pub(crate) fn test_table(
    name: &str,
    connector: &str,
    schema: SchemaRef,
    pairs: &[(&str, &str)],
) -> TableDescriptor {
    TableDescriptor {
        name: name.into(),
        schema,
        options: [("connector", connector)]
            .iter()
            .chain(pairs)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        partition_keys: Vec::new(),
        metadata: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(connector: &str, partition_keys: &[&str]) -> TableDescriptor {
        TableDescriptor {
            name: "t".into(),
            schema: Arc::new(arrow::datatypes::Schema::empty()),
            options: [("connector".to_string(), connector.to_string())].into(),
            partition_keys: partition_keys.iter().map(|k| k.to_string()).collect(),
            metadata: Vec::new(),
        }
    }

    static BUILT_IN: &[&dyn Connector] = &[
        &nexmark::NexmarkConnector,
        &datagen::DatagenConnector,
        &filesystem::FilesystemConnector,
        &print::PrintConnector,
        &blackhole::BlackholeConnector,
    ];

    fn connector_for(table: &TableDescriptor) -> Result<&'static dyn Connector> {
        find_for(BUILT_IN, table)
    }

    #[test]
    fn only_the_filesystem_connector_takes_partitions() {
        for c in ["print", "blackhole", "datagen", "nexmark"] {
            assert!(connector_for(&table(c, &[])).is_ok());
            let e = connector_for(&table(c, &["k"]))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains(&format!("connector '{c}' does not support PARTITIONED BY")),
                "{e}"
            );
        }
        assert!(connector_for(&table("filesystem", &["k"])).is_ok());
    }
}
