//! The connectors the planner knows, by Flink's `connector` option value:
//! the single registry (no link-time or constructor-based registration).

use riffle_connectors::{Connector, TableDescriptor};

/// Every connector Riffle ships.
pub static CONNECTORS: &[&dyn Connector] = &[
    &riffle_connectors::nexmark::NexmarkConnector,
    &riffle_connectors::datagen::DatagenConnector,
    &riffle_connectors::filesystem::FilesystemConnector,
    &riffle_connectors::print::PrintConnector,
    &riffle_connectors::blackhole::BlackholeConnector,
    &riffle_kafka::KafkaConnector,
];

/// Looks a connector up by its `connector` option value.
pub fn connector(name: &str) -> riffle_connectors::Result<&'static dyn Connector> {
    riffle_connectors::find(CONNECTORS, name)
}

/// The connector of a table (see [`riffle_connectors::find_for`]).
pub fn connector_for(table: &TableDescriptor) -> riffle_connectors::Result<&'static dyn Connector> {
    riffle_connectors::find_for(CONNECTORS, table)
}
