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
}

/// A connector: validates options and builds sources and sinks.
pub trait Connector: Send + Sync {
    /// Flink's `connector` option value.
    fn name(&self) -> &'static str;

    /// Checks the table's options and column types; called at planning time.
    fn validate(&self, table: &TableDescriptor) -> Result<()>;

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
