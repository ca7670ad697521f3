//! Keyed state, scoped to key groups.
//!
//! Stateful operators keep one entry per key. Each entry remembers its key
//! group, so a snapshot can be written per key-group range and restored into
//! a different parallelism (the fault-tolerance work builds on this). Keys are
//! Arrow row-format bytes of the key columns (`arrow::row`), which compare and
//! hash in one memcmp; the key group comes from the same hash the hash
//! exchange uses, so a key's state lives exactly where its rows arrive.

use std::collections::HashMap;

use arrow::array::ArrayRef;
use arrow::row::{RowConverter, RowParser, Rows, SortField};
use riffle_common::keygroup::key_group_for_hash;

use crate::Result;
use crate::exchange::hash_keys;

/// Encodes key columns into comparable, hashable row keys.
pub struct KeyEncoder {
    converter: RowConverter,
    max_parallelism: usize,
    hashes: Vec<u64>,
}

impl KeyEncoder {
    /// An encoder for keys of the given column types.
    pub fn new(types: &[arrow::datatypes::DataType], max_parallelism: usize) -> Result<Self> {
        Ok(KeyEncoder {
            converter: RowConverter::new(types.iter().cloned().map(SortField::new).collect())?,
            max_parallelism,
            hashes: Vec::new(),
        })
    }

    /// Encodes the key columns of a batch; returns the rows and each row's key group.
    pub fn encode(&mut self, columns: &[ArrayRef]) -> Result<(Rows, Vec<u16>)> {
        let n = columns.first().map(|c| c.len()).unwrap_or(0);
        let rows = self.converter.convert_columns(columns)?;
        hash_keys(columns, n, &mut self.hashes)?;
        let kgs = self
            .hashes
            .iter()
            .map(|h| key_group_for_hash(*h, self.max_parallelism) as u16)
            .collect();
        Ok((rows, kgs))
    }

    /// A parser that turns stored key bytes back into rows.
    pub fn parser(&self) -> RowParser {
        self.converter.parser()
    }

    /// Decodes stored key bytes back into columns (for emitting results).
    pub fn decode<'a>(&self, keys: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<ArrayRef>> {
        let parser = self.converter.parser();
        Ok(self
            .converter
            .convert_rows(keys.into_iter().map(|k| parser.parse(k)))?)
    }
}

/// Per-key state of type `V`, with each key's key group.
#[derive(Debug)]
pub struct KeyedState<V> {
    entries: HashMap<Box<[u8]>, (u16, V)>,
}

impl<V> Default for KeyedState<V> {
    fn default() -> Self {
        KeyedState {
            entries: HashMap::new(),
        }
    }
}

impl<V> KeyedState<V> {
    /// The entry of a key, created with `init` if absent.
    pub fn get_or_insert_with(
        &mut self,
        key: &[u8],
        key_group: u16,
        init: impl FnOnce() -> V,
    ) -> &mut V {
        // Look up by borrowed bytes first to avoid allocating for existing keys.
        if !self.entries.contains_key(key) {
            self.entries.insert(key.into(), (key_group, init()));
        }
        match self.entries.get_mut(key) {
            Some((_, v)) => v,
            None => unreachable_entry(),
        }
    }

    /// The entry of a key, if present.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.entries.get_mut(key).map(|(_, v)| v)
    }

    /// Removes a key.
    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        self.entries.remove(key).map(|(_, v)| v)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All entries with their key groups.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u16, &V)> {
        self.entries.iter().map(|(k, (kg, v))| (k.as_ref(), *kg, v))
    }
}

#[allow(clippy::panic)]
fn unreachable_entry() -> ! {
    // The entry was inserted just above; only a broken HashMap could get here.
    panic!("keyed state entry vanished after insertion")
}
