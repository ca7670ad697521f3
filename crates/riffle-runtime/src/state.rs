//! Keyed state, scoped to key groups.
//!
//! Stateful operators keep one entry per key. Each entry remembers its key
//! group, so a snapshot can be written per key-group range and restored into
//! a different parallelism (the fault-tolerance work builds on this). Keys are
//! Arrow row-format bytes of the key columns (`arrow::row`), which compare and
//! hash in one memcmp; the key group comes from the same hash the hash
//! exchange uses, so a key's state lives exactly where its rows arrive.

use std::collections::HashMap;
use std::sync::Arc;

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

/// A key with its key group, as operators remember keys to revisit.
pub type KeyAt = (Box<[u8]>, u16);

/// Entries by key: each key's key group and value. A value of `None`
/// marks a key removed since the last freeze (only in the live map of a
/// frozen shard). Hashed with foldhash (seeded per process): SipHash was a
/// tenth of a keyed operator's time, and the keys are short byte strings.
type Entries<V> = HashMap<Box<[u8]>, (u16, Option<V>), foldhash::fast::RandomState>;

/// Per-key state of type `V`, with each key's key group.
///
/// The entries are kept in one map per key group, and snapshots are
/// copy-on-write, so that a checkpoint does not stop processing while
/// gigabytes of state are encoded. [`KeyedState::freeze`] hands every key
/// group's map to a snapshot in O(key groups). Until the snapshot is done
/// with a map, writes to that key group go to a small live map in front of
/// it (a key read for writing is copied there once, a removal leaves a
/// tombstone) and reads look at the live map first. Once the snapshot has
/// dropped the frozen maps, the next access to a key group folds its live
/// map back in. Folding one key group at a time spreads that work over
/// many records instead of stalling the task once.
#[derive(Debug)]
pub struct KeyedState<V> {
    /// The key group of `shards[0]`.
    first: u16,
    /// One map per key group, from `first` on (a subtask's key groups are
    /// one contiguous range).
    shards: Vec<Shard<V>>,
    /// Number of present keys.
    len: usize,
}

impl<V> Default for KeyedState<V> {
    fn default() -> Self {
        KeyedState {
            first: 0,
            shards: Vec::new(),
            len: 0,
        }
    }
}

impl<V: Clone> KeyedState<V> {
    /// The entry of a key, created with `init` if absent.
    pub fn get_or_insert_with(
        &mut self,
        key: &[u8],
        key_group: u16,
        init: impl FnOnce() -> V,
    ) -> &mut V {
        let i = self.shard_for_insert(key_group);
        let (value, added) = self.shards[i].get_or_insert_with(key, key_group, init);
        if added {
            self.len += 1;
        }
        value
    }

    /// The entry of a key, if present, read without copying it out of a
    /// snapshot's frozen map.
    pub fn get(&self, key: &[u8], key_group: u16) -> Option<&V> {
        let i = self.shard(key_group)?;
        self.shards[i].get(key)
    }

    /// The entry of a key, if present.
    pub fn get_mut(&mut self, key: &[u8], key_group: u16) -> Option<&mut V> {
        let i = self.shard(key_group)?;
        self.shards[i].get_mut(key)
    }

    /// Removes a key.
    pub fn remove(&mut self, key: &[u8], key_group: u16) {
        if let Some(i) = self.shard(key_group)
            && self.shards[i].remove(key)
        {
            self.len -= 1;
        }
    }

    /// Rewrites every entry `stale` picks with `fix`, and removes those
    /// `fix` leaves empty (returns `false` for). Entries are visited through
    /// the copy-on-write path, so a snapshot in progress is not disturbed.
    /// Returns how many entries were removed.
    pub fn sweep(
        &mut self,
        stale: impl Fn(&V) -> bool,
        mut fix: impl FnMut(&mut V) -> bool,
    ) -> usize {
        let picked: Vec<KeyAt> = self
            .iter()
            .filter(|(_, _, v)| stale(v))
            .map(|(k, kg, _)| (k.into(), kg))
            .collect();
        let mut removed = 0;
        for (key, kg) in picked {
            let keep = self.get_mut(&key, kg).is_none_or(&mut fix);
            if !keep {
                self.remove(&key, kg);
                removed += 1;
            }
        }
        removed
    }

    /// Hands the current entries to a snapshot without copying them; see
    /// the type's docs.
    pub fn freeze(&mut self) -> FrozenState<V> {
        FrozenState {
            shards: self.shards.iter_mut().map(Shard::freeze).collect(),
        }
    }

    fn shard(&self, key_group: u16) -> Option<usize> {
        let i = usize::from(key_group.checked_sub(self.first)?);
        (i < self.shards.len()).then_some(i)
    }

    fn shard_for_insert(&mut self, key_group: u16) -> usize {
        if self.shards.is_empty() {
            self.first = key_group;
        }
        if key_group < self.first {
            let more = usize::from(self.first - key_group);
            self.shards
                .splice(0..0, std::iter::repeat_with(Shard::default).take(more));
            self.first = key_group;
        }
        let i = usize::from(key_group - self.first);
        if i >= self.shards.len() {
            self.shards.resize_with(i + 1, Shard::default);
        }
        i
    }
}

impl<V> KeyedState<V> {
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All entries with their key groups.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u16, &V)> {
        self.shards.iter().flat_map(Shard::iter)
    }
}

/// The entries of one key group.
#[derive(Debug)]
struct Shard<V> {
    /// All entries while nothing is frozen; otherwise the changes since
    /// the freeze.
    live: Entries<V>,
    /// The map a snapshot is reading.
    frozen: Option<Arc<Entries<V>>>,
}

impl<V> Default for Shard<V> {
    fn default() -> Self {
        Shard {
            live: HashMap::default(),
            frozen: None,
        }
    }
}

impl<V: Clone> Shard<V> {
    /// The entry of a key, created with `init` if absent; whether it was.
    fn get_or_insert_with(
        &mut self,
        key: &[u8],
        key_group: u16,
        init: impl FnOnce() -> V,
    ) -> (&mut V, bool) {
        self.thaw();
        let mut added = false;
        // Look up by borrowed bytes first to avoid allocating for existing keys.
        match self.live.get(key).map(|(_, v)| v.is_some()) {
            Some(true) => {}
            Some(false) => {
                // A tombstone: the key was removed since the freeze.
                added = true;
                if let Some((_, slot)) = self.live.get_mut(key) {
                    *slot = Some(init());
                }
            }
            None => {
                let value = match self.frozen_entry(key) {
                    Some((_, v)) => v,
                    None => {
                        added = true;
                        init()
                    }
                };
                self.live.insert(key.into(), (key_group, Some(value)));
            }
        }
        match self.live.get_mut(key) {
            Some((_, Some(v))) => (v, added),
            _ => unreachable_entry(),
        }
    }

    fn get(&self, key: &[u8]) -> Option<&V> {
        match self.live.get(key) {
            // Changed since the freeze (a `None` is a removal).
            Some((_, v)) => v.as_ref(),
            None => self
                .frozen
                .as_ref()
                .and_then(|f| f.get(key))
                .and_then(|(_, v)| v.as_ref()),
        }
    }

    fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.thaw();
        if self.frozen.is_some() && !self.live.contains_key(key) {
            let (key_group, value) = self.frozen_entry(key)?;
            self.live.insert(key.into(), (key_group, Some(value)));
        }
        self.live.get_mut(key).and_then(|(_, v)| v.as_mut())
    }

    /// Removes a key; whether it was present.
    fn remove(&mut self, key: &[u8]) -> bool {
        self.thaw();
        let in_frozen = self
            .frozen
            .as_ref()
            .and_then(|f| f.get(key))
            .and_then(|(kg, v)| v.as_ref().map(|_| *kg));
        match (self.live.get_mut(key), in_frozen) {
            (Some((_, slot)), Some(_)) => slot.take().is_some(),
            (Some(_), None) => self.live.remove(key).is_some_and(|(_, v)| v.is_some()),
            (None, Some(kg)) => {
                self.live.insert(key.into(), (kg, None));
                true
            }
            (None, None) => false,
        }
    }

    /// This key group's entries for a snapshot. If an earlier snapshot
    /// still reads its frozen map (a second checkpoint overtook the
    /// first), the entries are copied once.
    fn freeze(&mut self) -> Arc<Entries<V>> {
        self.thaw();
        let entries = match self.frozen.take() {
            None => Arc::new(std::mem::take(&mut self.live)),
            Some(older) => {
                let mut all: Entries<V> = older
                    .iter()
                    .filter(|(k, _)| !self.live.contains_key(*k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                all.extend(
                    std::mem::take(&mut self.live)
                        .into_iter()
                        .filter(|(_, (_, v))| v.is_some()),
                );
                Arc::new(all)
            }
        };
        self.frozen = Some(Arc::clone(&entries));
        entries
    }

    /// A copy of a key's entry in the frozen map (copy-on-write).
    fn frozen_entry(&self, key: &[u8]) -> Option<(u16, V)> {
        self.frozen
            .as_ref()
            .and_then(|f| f.get(key))
            .and_then(|(kg, v)| v.clone().map(|v| (*kg, v)))
    }

    /// Folds the live map back in once no snapshot reads the frozen one.
    fn thaw(&mut self) {
        let Some(frozen) = self.frozen.take_if(|f| Arc::strong_count(f) == 1) else {
            return;
        };
        let Some(mut base) = Arc::into_inner(frozen) else {
            return;
        };
        let started = std::time::Instant::now();
        let live = std::mem::take(&mut self.live);
        let changed = live.len();
        if live.len() <= base.len() {
            for (k, (kg, v)) in live {
                match v {
                    Some(v) => {
                        base.insert(k, (kg, Some(v)));
                    }
                    None => {
                        base.remove(&k);
                    }
                }
            }
            self.live = base;
        } else {
            let mut live = live;
            for (k, e) in base {
                live.entry(k).or_insert(e);
            }
            live.retain(|_, (_, v)| v.is_some());
            self.live = live;
        }
        // A fold should take a few milliseconds; a long one stalls the task.
        let ms = started.elapsed().as_millis() as u64;
        if ms >= 50 {
            tracing::info!(changed, ms, "keyed state thawed after a snapshot");
        }
    }
}

impl<V> Shard<V> {
    fn iter(&self) -> impl Iterator<Item = (&[u8], u16, &V)> {
        let live = self
            .live
            .iter()
            .filter_map(|(k, (kg, v))| v.as_ref().map(|v| (k.as_ref(), *kg, v)));
        let frozen = self.frozen.iter().flat_map(move |f| {
            f.iter()
                .filter(move |(k, _)| !self.live.contains_key(*k))
                .filter_map(|(k, (kg, v))| v.as_ref().map(|v| (k.as_ref(), *kg, v)))
        });
        live.chain(frozen)
    }
}

/// The entries of a [`KeyedState`] at the moment of a snapshot, readable
/// on another thread while the operator goes on changing its state.
#[derive(Debug)]
pub struct FrozenState<V> {
    shards: Vec<Arc<Entries<V>>>,
}

impl<V> FrozenState<V> {
    /// All entries with their key groups.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u16, &V)> {
        self.shards.iter().flat_map(|s| {
            s.iter()
                .filter_map(|(k, (kg, v))| v.as_ref().map(|v| (k.as_ref(), *kg, v)))
        })
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

#[allow(clippy::panic)]
fn unreachable_entry() -> ! {
    // The entry was inserted just above; only a broken HashMap could get here.
    panic!("keyed state entry vanished after insertion")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    type Model = BTreeMap<Vec<u8>, (u16, i64)>;

    fn contents(s: &KeyedState<i64>) -> Model {
        s.iter().map(|(k, kg, v)| (k.to_vec(), (kg, *v))).collect()
    }

    fn frozen(f: &FrozenState<i64>) -> Model {
        f.iter().map(|(k, kg, v)| (k.to_vec(), (kg, *v))).collect()
    }

    #[test]
    fn a_sweep_fixes_and_removes_only_what_it_picks_without_touching_a_snapshot() {
        let mut state = KeyedState::<i64>::default();
        for k in 0..10u8 {
            *state.get_or_insert_with(&[k], u16::from(k % 3), || 0) = i64::from(k);
        }
        let before = contents(&state);
        let snap = state.freeze();
        // Odd values are stale: halve them; those that become 0 go.
        let removed = state.sweep(
            |v| v % 2 == 1,
            |v| {
                *v /= 2;
                *v != 0
            },
        );
        assert_eq!(removed, 1);
        assert_eq!(frozen(&snap), before);
        let after: Vec<i64> = contents(&state).values().map(|v| v.1).collect();
        assert_eq!(after, vec![0, 2, 1, 4, 2, 6, 3, 8, 4]);
        assert_eq!(state.len(), 9);
    }

    /// A random mix of inserts, updates and removals, with freezes at
    /// random points whose snapshots are dropped at random later points:
    /// every frozen view equals the state at its freeze, and the state
    /// always equals a plain map that saw the same operations.
    #[test]
    fn frozen_views_are_stable_and_writes_are_never_lost() {
        let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut state = KeyedState::<i64>::default();
        let mut model = Model::new();
        let mut held: Vec<(FrozenState<i64>, Model)> = Vec::new();
        for step in 0..20_000 {
            let key = vec![next(64) as u8];
            let kg = u16::from(key[0] % 7) + 3;
            match next(10) {
                0..=4 => {
                    *state.get_or_insert_with(&key, kg, || 0) += 1;
                    model.entry(key).or_insert((kg, 0)).1 += 1;
                }
                5..=6 => {
                    if let Some(v) = state.get_mut(&key, kg) {
                        *v *= 2;
                    }
                    if let Some(e) = model.get_mut(&key) {
                        e.1 *= 2;
                    }
                }
                7 => {
                    state.remove(&key, kg);
                    model.remove(&key);
                }
                8 => {
                    if next(20) == 0 {
                        held.push((state.freeze(), model.clone()));
                    }
                }
                _ => {
                    if !held.is_empty() && next(4) == 0 {
                        let (f, at) = held.remove(next(held.len() as u64) as usize);
                        assert_eq!(frozen(&f), at, "step {step}");
                        assert_eq!(f.len(), at.len());
                    }
                }
            }
            assert_eq!(state.len(), model.len(), "step {step}");
            if step % 97 == 0 {
                assert_eq!(contents(&state), model, "step {step}");
            }
        }
        for (f, at) in &held {
            assert_eq!(&frozen(f), at);
        }
        held.clear();
        state.get_or_insert_with(b"z", 1, || 5);
        model.insert(b"z".to_vec(), (1, 5));
        assert_eq!(contents(&state), model);
        for kg in 3..10 {
            state.remove(b"absent", kg);
        }
        assert!(
            state.shards.iter().all(|s| s.frozen.is_none()),
            "each key group thaws on its next access once snapshots are done"
        );
        assert_eq!(contents(&state), model);
    }
}
