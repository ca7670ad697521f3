//! Checkpoints inside a process: what operators write when a barrier passes,
//! how it is framed into files, and how it comes back on restore.
//!
//! The model is Flink's. A stateful operator instance writes two kinds of
//! state into an [`OperatorSnapshot`]:
//! - **keyed state**: one entry per key, tagged with the key's key group.
//!   On restore a subtask reads the entries of its key-group range from
//!   every old subtask whose range overlaps, so a job restored with another
//!   parallelism redistributes whole key groups and never splits a key;
//! - **operator state**: a list of opaque items (source splits, a sink's
//!   pending commits). With the same parallelism a subtask gets its own
//!   items back; otherwise all items are dealt round-robin.
//!
//! Each operator instance's snapshot is one file ([`file`]) named by the
//! operator's stable uid ([`uid`]) and subtask, with a header that repeats
//! the uid, the operator's state descriptor and key-group range, and a
//! CRC-32 trailer: a corrupt file is detected, not misread.
//!
//! Writing files and talking to the JobManager happen outside the runtime,
//! behind [`SnapshotListener`] (a subtask hands over its bytes and goes on
//! processing; the listener uploads asynchronously) and [`StateStore`]
//! (reads the files of the checkpoint being restored).

pub mod codec;
pub mod file;
pub mod uid;

use std::sync::Arc;

use riffle_common::CheckpointBarrier;
use riffle_common::keygroup::{KeyGroupRange, range_for_subtask};

pub use codec::{Decoder, Encoder};
pub use file::SnapshotFile;

use crate::deploy::SubtaskId;
use crate::{Error, Result, TaskInfo};

/// Encoding work an operator leaves for the uploading thread.
type Deferred = Box<dyn FnOnce(&mut OperatorSnapshot) -> Result<()> + Send>;

/// What one operator instance writes at a checkpoint.
///
/// Small state is written directly. Large keyed state is frozen (see
/// [`crate::state::KeyedState::freeze`]) and its encoding deferred with
/// [`OperatorSnapshot::keyed_later`]: the subtask hands the snapshot over
/// and goes on processing while another thread encodes and uploads it.
#[derive(Default)]
pub struct OperatorSnapshot {
    keyed: Encoder,
    keyed_count: u64,
    items: Vec<Vec<u8>>,
    deferred: Vec<Deferred>,
}

impl std::fmt::Debug for OperatorSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorSnapshot")
            .field("keyed_count", &self.keyed_count)
            .field("items", &self.items.len())
            .field("deferred", &self.deferred.len())
            .finish()
    }
}

impl OperatorSnapshot {
    /// Adds one key's entry; `value` encodes the key's state.
    pub fn keyed(
        &mut self,
        key_group: u16,
        key: &[u8],
        value: impl FnOnce(&mut Encoder) -> Result<()>,
    ) -> Result<()> {
        self.keyed.u16(key_group);
        self.keyed.bytes(key);
        // The value is length-prefixed so a reader can skip entries of key
        // groups it does not own without decoding them. It is written in
        // place and its length filled in afterwards: no buffer per entry.
        let at = self.keyed.len();
        self.keyed.u64(0);
        value(&mut self.keyed)?;
        let len = self.keyed.len() - at - 8;
        self.keyed.patch_u64(at, len as u64);
        self.keyed_count += 1;
        Ok(())
    }

    /// Leaves keyed entries to be written later, off the task thread:
    /// `write` gets this snapshot when the file is encoded and calls
    /// [`OperatorSnapshot::keyed`] for each entry of frozen state.
    pub fn keyed_later(
        &mut self,
        write: impl FnOnce(&mut OperatorSnapshot) -> Result<()> + Send + 'static,
    ) {
        self.deferred.push(Box::new(write));
    }

    /// Runs the deferred writes.
    fn finish(&mut self) -> Result<()> {
        for write in std::mem::take(&mut self.deferred) {
            write(self)?;
        }
        Ok(())
    }

    /// Adds one item of operator state.
    pub fn item(&mut self, bytes: Vec<u8>) {
        self.items.push(bytes);
    }

    /// Number of keyed entries.
    pub fn keyed_count(&self) -> u64 {
        self.keyed_count
    }

    /// Whether nothing was written or left to write.
    pub fn is_empty(&self) -> bool {
        self.keyed_count == 0 && self.items.is_empty() && self.deferred.is_empty()
    }
}

/// One keyed entry of restored state.
#[derive(Debug, Clone, Copy)]
pub struct KeyedEntry<'a> {
    /// The key's key group.
    pub key_group: u16,
    /// The key bytes (as the operator wrote them).
    pub key: &'a [u8],
    /// The encoded value.
    pub value: &'a [u8],
}

/// The state one operator instance gets back on restore.
#[derive(Debug, Default)]
pub struct RestoredState {
    files: Vec<SnapshotFile>,
    range: Option<KeyGroupRange>,
    /// The operator-state items dealt to this instance.
    pub items: Vec<Vec<u8>>,
}

impl RestoredState {
    /// State holding only operator-state items (used by tests and sources).
    pub fn from_items(items: Vec<Vec<u8>>) -> Self {
        RestoredState {
            files: Vec::new(),
            range: None,
            items,
        }
    }

    /// Calls `f` for every keyed entry in this instance's key-group range.
    pub fn for_each_keyed(&self, mut f: impl FnMut(KeyedEntry<'_>) -> Result<()>) -> Result<()> {
        for file in &self.files {
            let mut d = Decoder::new(&file.keyed);
            for _ in 0..file.keyed_count {
                let key_group = d.u16()?;
                let key = d.bytes()?;
                let value = d.bytes()?;
                if self
                    .range
                    .is_none_or(|r| r.contains(usize::from(key_group)))
                {
                    f(KeyedEntry {
                        key_group,
                        key,
                        value,
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// Where an operator's state of the restored checkpoint lives.
#[derive(Debug, Clone)]
pub struct OperatorLayout {
    /// The operator's parallelism when the checkpoint was taken.
    pub parallelism: usize,
    /// `pipeline.max-parallelism` when it was taken.
    pub max_parallelism: usize,
    /// The old subtasks that wrote a file.
    pub subtasks: Vec<usize>,
}

/// Reads the files of the checkpoint a job restores from.
pub trait StateStore: Send + Sync {
    /// The layout of an operator's state, `None` when the checkpoint holds
    /// none for it (a new operator starts empty).
    fn layout(&self, uid: &str) -> Option<OperatorLayout>;
    /// The bytes of the file written by `subtask` of operator `uid`.
    fn read(&self, uid: &str, subtask: usize) -> Result<Vec<u8>>;
}

/// Which operator-state items a restored instance gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Items {
    /// Its own at the same parallelism, else a round-robin share.
    Dealt,
    /// Every item of every old instance (Flink's union list state).
    Union,
}

/// Loads the state of one operator instance from a checkpoint: the keyed
/// entries of its key-group range and its share of operator-state items.
/// `None` when the checkpoint has no state for the operator.
pub fn restore_state(
    store: &dyn StateStore,
    uid: &str,
    descriptor: &str,
    task: &TaskInfo,
    items_to: Items,
) -> Result<Option<RestoredState>> {
    let Some(layout) = store.layout(uid) else {
        return Ok(None);
    };
    if layout.max_parallelism != task.max_parallelism {
        return Err(Error::User(format!(
            "the checkpoint was taken with pipeline.max-parallelism {} and the job now has {}; \
             key groups cannot be remapped, keep pipeline.max-parallelism unchanged",
            layout.max_parallelism, task.max_parallelism
        )));
    }
    let mine = range_for_subtask(task.subtask_index, task.max_parallelism, task.parallelism);
    let union = items_to == Items::Union;
    let same = layout.parallelism == task.parallelism && !union;
    let mut files = Vec::new();
    let mut items = Vec::new();
    let mut dealt = 0usize;
    for &old in &layout.subtasks {
        let old_range = range_for_subtask(old, layout.max_parallelism, layout.parallelism);
        let overlaps = old_range.start <= mine.end && mine.start <= old_range.end;
        // Operator-state items: own items at the same parallelism, else every
        // file is read so the items can be dealt round-robin.
        if !same || old == task.subtask_index || overlaps {
            let bytes = store
                .read(uid, old)
                .map_err(|e| Error::Restore(Box::new(e)))?;
            let file = SnapshotFile::decode(&bytes).map_err(|e| {
                Error::Restore(Box::new(
                    e.context(format!("state file of operator {uid} subtask {old}")),
                ))
            })?;
            if file.uid != uid {
                return Err(Error::Restore(Box::new(Error::External(format!(
                    "state file of operator {uid} subtask {old} belongs to operator {}",
                    file.uid
                )))));
            }
            if file.descriptor != descriptor {
                return Err(Error::User(format!(
                    "operator {uid}: the checkpoint's state has the shape [{}] but the job's operator \
                     keeps [{descriptor}]; the query changed in a way its state cannot follow",
                    file.descriptor
                )));
            }
            let mut file = file;
            if same {
                if old == task.subtask_index {
                    items.append(&mut file.items);
                }
            } else if union {
                items.append(&mut file.items);
            } else {
                for item in file.items.drain(..) {
                    if dealt % task.parallelism.max(1) == task.subtask_index {
                        items.push(item);
                    }
                    dealt += 1;
                }
            }
            if overlaps && file.keyed_count > 0 {
                files.push(file);
            }
        }
    }
    Ok(Some(RestoredState {
        files,
        range: Some(mine),
        items,
    }))
}

/// What a subtask hands over after a barrier passed its chain: the encoded
/// snapshot file of every stateful operator instance.
#[derive(Debug)]
pub struct SubtaskSnapshot {
    /// The checkpoint.
    pub barrier: CheckpointBarrier,
    /// One file per stateful operator instance.
    pub files: Vec<SnapshotPart>,
    /// How long the subtask spent writing its state (the synchronous part).
    pub sync_ms: u64,
    /// How long it waited for barriers on all inputs.
    pub alignment_ms: u64,
}

/// The state of one operator instance, to be encoded into its file by
/// whoever stores it ([`SnapshotPart::encode`]).
#[derive(Debug)]
pub struct SnapshotPart {
    /// The operator's uid.
    pub uid: String,
    /// Its state descriptor.
    pub descriptor: String,
    /// The subtask's key groups.
    pub key_groups: KeyGroupRange,
    /// What the operator wrote, deferred work included.
    pub snapshot: OperatorSnapshot,
}

impl SnapshotPart {
    /// Encodes the snapshot file, running the operator's deferred writes
    /// (this is the expensive part; call it off the task thread).
    pub fn encode(&mut self) -> Result<Vec<u8>> {
        SnapshotFile::encode(
            &self.uid,
            &self.descriptor,
            self.key_groups,
            std::mem::take(&mut self.snapshot),
        )
    }
}

/// Receives what subtasks produce for checkpoints.
pub trait SnapshotListener: Send + Sync {
    /// A subtask took its part of a checkpoint; store it and acknowledge.
    fn snapshot_taken(&self, task: SubtaskId, snapshot: SubtaskSnapshot);
    /// A subtask could not take its part (e.g. state it cannot encode).
    fn snapshot_failed(&self, task: SubtaskId, checkpoint_id: u64, reason: String);
    /// A subtask reached the end of its input and waits for the final
    /// checkpoint to commit its output.
    fn end_of_input(&self, task: SubtaskId);
}

/// Commands a subtask receives from its TaskManager between records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TaskCommand {
    /// Take a checkpoint now: sources emit the barrier, a subtask whose
    /// input has ended snapshots directly. `drain` (stop with savepoint
    /// `--drain`) first completes all event time. A barrier with `stop`
    /// set ends production: sources pause after it, every task stops
    /// reacting to end of input with flushes.
    Trigger {
        /// The barrier.
        barrier: CheckpointBarrier,
        /// Emit `Watermark::MAX` before the barrier.
        drain: bool,
    },
    /// A checkpoint completed: commit what it covers; with `stop`, end the
    /// subtask afterwards (a final checkpoint or stop-with-savepoint): a
    /// source closes its channels, the others end when all inputs closed.
    Complete {
        /// The checkpoint.
        checkpoint_id: u64,
        /// Finish the subtask once committed.
        stop: bool,
    },
}

/// How a subtask takes part in checkpoints.
#[derive(Clone)]
pub struct CheckpointContext {
    /// Where snapshots go.
    pub listener: Arc<dyn SnapshotListener>,
}

impl std::fmt::Debug for CheckpointContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointContext").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Store {
        parallelism: usize,
        files: HashMap<usize, Vec<u8>>,
    }

    impl StateStore for Store {
        fn layout(&self, uid: &str) -> Option<OperatorLayout> {
            (uid == "op").then(|| OperatorLayout {
                parallelism: self.parallelism,
                max_parallelism: 8,
                subtasks: (0..self.parallelism).collect(),
            })
        }
        fn read(&self, _uid: &str, subtask: usize) -> Result<Vec<u8>> {
            self.files
                .get(&subtask)
                .cloned()
                .ok_or_else(|| Error::External("missing".into()))
        }
    }

    fn task(s: usize, p: usize) -> TaskInfo {
        TaskInfo {
            job_name: "j".into(),
            vertex_id: 0,
            vertex_name: "v".into(),
            subtask_index: s,
            parallelism: p,
            max_parallelism: 8,
            local_time_zone_offset_ms: 0,
            checkpointing: false,
        }
    }

    /// Two old subtasks; each key group kg holds key [kg] with value kg*10;
    /// every subtask has one item naming it.
    fn store(p: usize) -> Store {
        let mut files = HashMap::new();
        for s in 0..p {
            let r = range_for_subtask(s, 8, p);
            let mut snap = OperatorSnapshot::default();
            for kg in r.start..=r.end {
                snap.keyed(kg as u16, &[kg as u8], |e| {
                    e.u64(kg as u64 * 10);
                    Ok(())
                })
                .unwrap();
            }
            snap.item(vec![s as u8]);
            files.insert(s, SnapshotFile::encode("op", "desc", r, snap).unwrap());
        }
        Store {
            parallelism: p,
            files,
        }
    }

    fn keys(r: &RestoredState) -> Vec<u8> {
        let mut out = Vec::new();
        r.for_each_keyed(|e| {
            out.push(e.key[0]);
            assert_eq!(
                Decoder::new(e.value).u64().unwrap(),
                u64::from(e.key[0]) * 10
            );
            Ok(())
        })
        .unwrap();
        out.sort();
        out
    }

    #[test]
    fn same_parallelism_gets_its_own_state_back() {
        let st = store(2);
        let r = restore_state(&st, "op", "desc", &task(1, 2), Items::Dealt)
            .unwrap()
            .unwrap();
        assert_eq!(keys(&r), vec![4, 5, 6, 7]);
        assert_eq!(r.items, vec![vec![1]]);
        assert!(
            restore_state(&st, "other", "desc", &task(0, 2), Items::Dealt)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_union_restore_gives_every_instance_every_item() {
        let st = store(2);
        for parallelism in [2, 3] {
            for s in 0..parallelism {
                let mut r = restore_state(&st, "op", "desc", &task(s, parallelism), Items::Union)
                    .unwrap()
                    .unwrap();
                r.items.sort();
                assert_eq!(
                    r.items,
                    vec![vec![0], vec![1]],
                    "subtask {s} of {parallelism}"
                );
            }
        }
    }

    #[test]
    fn rescaling_redistributes_key_groups_and_deals_items() {
        let st = store(2);
        let all: Vec<Vec<u8>> = (0..3)
            .map(|s| {
                restore_state(&st, "op", "desc", &task(s, 3), Items::Dealt)
                    .unwrap()
                    .unwrap()
            })
            .map(|r| {
                let mut k = keys(&r);
                k.extend(r.items.iter().map(|i| 100 + i[0]));
                k
            })
            .collect();
        assert_eq!(all[0], vec![0, 1, 2, 100]);
        assert_eq!(all[1], vec![3, 4, 5, 101]);
        assert_eq!(all[2], vec![6, 7]);
        let st = store(3);
        let one = restore_state(&st, "op", "desc", &task(0, 1), Items::Dealt)
            .unwrap()
            .unwrap();
        assert_eq!(keys(&one), (0..8).collect::<Vec<u8>>());
        assert_eq!(one.items.len(), 3);
    }

    #[test]
    fn a_changed_state_shape_or_max_parallelism_is_refused() {
        let st = store(2);
        let e = restore_state(&st, "op", "other", &task(0, 2), Items::Dealt).unwrap_err();
        assert!(e.to_string().contains("shape [desc]"), "{e}");
        let mut t = task(0, 2);
        t.max_parallelism = 16;
        let e = restore_state(&st, "op", "desc", &t, Items::Dealt).unwrap_err();
        assert!(e.to_string().contains("pipeline.max-parallelism 8"), "{e}");
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let mut st = store(2);
        if let Some(f) = st.files.get_mut(&0) {
            let n = f.len() / 2;
            f[n] ^= 0xFF;
        }
        let e = restore_state(&st, "op", "desc", &task(0, 2), Items::Dealt).unwrap_err();
        assert!(e.to_string().contains("subtask 0"), "{e}");
        assert!(e.to_string().contains("checksum"), "{e}");
    }
}
