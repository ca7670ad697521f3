//! The `nexmark` connector: a generator of the Nexmark auction event stream.
//!
//! Nexmark models an online auction site with three event kinds: new
//! persons, new auctions and bids. The benchmark queries (q0–q23) all read one
//! source table, `datagen`, whose rows each carry exactly one of the three
//! events. This module produces that table as Arrow record batches, following
//! Flink's Nexmark source (`com.github.nexmark.flink`) for the schema, the
//! options, the event mix, the id rules and the event timestamps, so that
//! Riffle runs the same workload that published Flink numbers were measured on.
//!
//! # Why the generator is deterministic
//!
//! Flink's generator draws its field values from an unseeded random source,
//! so two runs never see the same bids. That makes query results impossible
//! to compare between runs, between engines or against a stored expectation.
//! Here every random draw comes from a small PRNG seeded by the `seed` option
//! and the event's own id, and the only clock is the `base-time` option. The
//! consequences:
//!
//! - the same options and split always give byte-identical batches;
//! - an event's fields do not depend on the batch size or on which columns a
//!   query projects, so skipping the person and auction columns (the main
//!   speed trick, as most queries read only bids) changes nothing in the bids;
//! - resuming a split from a checkpointed event count regenerates exactly the
//!   events that followed, with no generator state to save.
//!
//! Everything Flink makes deterministic (event kinds, event ids, person and
//! auction ids, hot keys, timestamps) follows Flink's arithmetic exactly.
//!
//! [`config`] parses the `WITH` options; [`generator`] builds the batches.

pub mod config;
pub mod generator;

pub use config::{NexmarkConfig, OPTION_KEYS, RateShape};
pub use generator::{
    AUCTION_COLUMN, BID_COLUMN, EVENT_TYPE_AUCTION, EVENT_TYPE_BID, EVENT_TYPE_COLUMN,
    EVENT_TYPE_PERSON, NexmarkGenerator, PERSON_COLUMN, nexmark_schema,
};

mod pace;
mod source;

use std::sync::Arc;

use riffle_common::config::JobConfig;
use riffle_runtime::connector::SourceFactory;

use crate::{Connector, Error, TableDescriptor};

/// The connector.
#[derive(Debug)]
pub struct NexmarkConnector;

impl Connector for NexmarkConnector {
    fn name(&self) -> &'static str {
        "nexmark"
    }

    fn validate(&self, table: &TableDescriptor) -> crate::Result<()> {
        NexmarkConfig::parse(table)?;
        check_columns(table)
    }

    fn source(
        &self,
        table: &TableDescriptor,
        projection: Option<Vec<usize>>,
        _config: &JobConfig,
    ) -> crate::Result<Arc<dyn SourceFactory>> {
        let cfg = NexmarkConfig::parse(table)?;
        check_columns(table)?;
        // Map the declared columns (by name) onto the generator's columns.
        let full = nexmark_schema();
        let declared: Vec<usize> = match projection {
            Some(p) => p,
            None => (0..table.schema.fields().len()).collect(),
        };
        let mut gen_proj = Vec::new();
        for i in declared {
            let f = table.schema.fields().get(i).ok_or_else(|| {
                Error::Options(format!("table '{}' has no column number {i}", table.name))
            })?;
            let idx = full
                .index_of(f.name())
                .map_err(|e| Error::Options(e.to_string()))?;
            gen_proj.push(idx);
        }
        Ok(Arc::new(source::NexmarkSource::try_new(
            cfg,
            Some(gen_proj),
        )?))
    }
}

/// Checks that every declared column is one the generator produces, with
/// its type.
fn check_columns(table: &TableDescriptor) -> crate::Result<()> {
    let expected = nexmark_schema();
    for f in table.schema.fields() {
        let Ok(e) = expected.field_with_name(f.name()) else {
            return Err(Error::Options(format!(
                "table '{}': the nexmark connector has no column '{}'; its columns are event_type, person, auction, bid",
                table.name,
                f.name()
            )));
        };
        if e.data_type() != f.data_type() {
            return Err(Error::Options(format!(
                "table '{}': column '{}' is declared as {} but the nexmark connector produces {}",
                table.name,
                f.name(),
                f.data_type(),
                e.data_type()
            )));
        }
    }
    Ok(())
}
