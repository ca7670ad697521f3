//! Key groups: how keys map to parallel subtasks, as in Flink.
//!
//! A key hashes to one of `max_parallelism` key groups; key groups map to
//! subtasks in contiguous ranges. Keyed state is stored per key group, so when
//! a job is restored with another parallelism whole key groups move between
//! subtasks and no key is ever split. The arithmetic is Flink's
//! (`KeyGroupRangeAssignment`); the key hash is ours (a 64-bit hash over the
//! Arrow key columns), mixed with a finalizer so that low-entropy hashes still
//! spread evenly.

/// Flink's default `pipeline.max-parallelism` for small jobs.
pub const DEFAULT_MAX_PARALLELISM: usize = 128;

/// A contiguous, inclusive range of key groups owned by one subtask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyGroupRange {
    /// First key group (inclusive).
    pub start: usize,
    /// Last key group (inclusive).
    pub end: usize,
}

impl KeyGroupRange {
    /// Whether `kg` belongs to the range.
    pub fn contains(&self, kg: usize) -> bool {
        kg >= self.start && kg <= self.end
    }
}

/// Mixes a 64-bit hash (murmur3 finalizer) before taking it modulo the key-group count.
pub fn mix(h: u64) -> u64 {
    let mut h = h;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The key group of a key hash.
pub fn key_group_for_hash(hash: u64, max_parallelism: usize) -> usize {
    (mix(hash) % max_parallelism.max(1) as u64) as usize
}

/// The subtask that owns key group `kg` (Flink's `computeOperatorIndexForKeyGroup`).
pub fn subtask_for_key_group(kg: usize, max_parallelism: usize, parallelism: usize) -> usize {
    kg * parallelism / max_parallelism.max(1)
}

/// The key groups owned by `subtask` (Flink's `computeKeyGroupRangeForOperatorIndex`).
pub fn range_for_subtask(
    subtask: usize,
    max_parallelism: usize,
    parallelism: usize,
) -> KeyGroupRange {
    let p = parallelism.max(1);
    let start = (subtask * max_parallelism).div_ceil(p);
    let end = ((subtask + 1) * max_parallelism).saturating_sub(1) / p;
    KeyGroupRange { start, end }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_partition_all_key_groups_and_agree_with_owner() {
        for p in 1..=7 {
            let mut next = 0;
            for s in 0..p {
                let r = range_for_subtask(s, 128, p);
                assert_eq!(r.start, next);
                for kg in r.start..=r.end {
                    assert_eq!(subtask_for_key_group(kg, 128, p), s);
                }
                next = r.end + 1;
            }
            assert_eq!(next, 128);
        }
    }

    #[test]
    fn hashes_spread() {
        let mut counts = [0usize; 4];
        for k in 0..10_000u64 {
            counts[subtask_for_key_group(key_group_for_hash(k, 128), 128, 4)] += 1;
        }
        assert!(counts.iter().all(|c| *c > 2000), "{counts:?}");
    }
}
