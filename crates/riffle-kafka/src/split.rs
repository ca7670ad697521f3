//! A Kafka source's splits: one per topic partition, with the offset of the
//! next record to read.
//!
//! Which subtask reads a partition follows Flink's Kafka source
//! ([`owner`]), so a partition is read by the same subtask index in both
//! engines. Splits are restored as a union: every subtask of a restored
//! job sees every split of the checkpoint and keeps those it owns at the
//! new parallelism. A partition of a checkpointed topic without a split was
//! created after the checkpoint and is read from its earliest offset, as
//! Flink reads partitions it discovers.

use riffle_runtime::checkpoint::{Decoder, Encoder};

use crate::{Error, Result};

/// One topic partition, the offset of the next record to read, and the
/// offset reading ends before (`i64::MAX` when unbounded). A finished
/// partition (`offset >= stop`) stays a split, so that a restored job knows
/// it and does not read it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSplit {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset of the next record.
    pub offset: i64,
    /// The offset reading ends before.
    pub stop: i64,
}

/// The format of the encoded split (bump when it changes).
const VERSION: u8 = 1;

impl PartitionSplit {
    /// The split as bytes, for the checkpoint.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(VERSION);
        e.str(&self.topic);
        e.i64(i64::from(self.partition));
        e.i64(self.offset);
        e.i64(self.stop);
        e.into_bytes()
    }

    /// A split from a checkpoint's bytes.
    pub fn decode(bytes: &[u8]) -> Result<PartitionSplit> {
        let corrupt = |e: riffle_runtime::Error| {
            Error::Restore(format!(
                "a Kafka split in the checkpoint does not decode: {e}"
            ))
        };
        let mut d = Decoder::new(bytes);
        let version = d.u8().map_err(corrupt)?;
        if version != VERSION {
            return Err(Error::Restore(format!(
                "a Kafka split in the checkpoint has format version {version}, this Riffle reads {VERSION}"
            )));
        }
        let topic = d.str().map_err(corrupt)?.to_string();
        let partition = i32::try_from(d.i64().map_err(corrupt)?)
            .map_err(|_| Error::Restore("a Kafka split names a partition out of range".into()))?;
        let offset = d.i64().map_err(corrupt)?;
        let stop = d.i64().map_err(corrupt)?;
        Ok(PartitionSplit {
            topic,
            partition,
            offset,
            stop,
        })
    }
}

/// The subtask (of `parallelism`) that reads `partition` of `topic`:
/// Flink's `KafkaSourceEnumerator.getSplitOwner`, with Java's
/// `String.hashCode` of the topic.
pub fn owner(topic: &str, partition: i32, parallelism: usize) -> usize {
    let hash = topic
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let start = (hash.wrapping_mul(31) & 0x7FFF_FFFF) as i64;
    let parallelism = parallelism.max(1) as i64;
    ((start + i64::from(partition)) % parallelism) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_survives_encoding() {
        let s = PartitionSplit {
            topic: "nexmark".into(),
            partition: 7,
            offset: 1 << 40,
            stop: i64::MAX,
        };
        assert_eq!(PartitionSplit::decode(&s.encode()).ok(), Some(s));
        assert!(PartitionSplit::decode(&[9, 0]).is_err());
    }

    #[test]
    fn partitions_are_owned_as_flink_owns_them() {
        // "nexmark".hashCode() = 1846867950 in Java; * 31 & MAX = 1418331602;
        // partitions start at subtask 1418331602 % p and go round.
        assert_eq!(owner("nexmark", 0, 4), 1418331602 % 4);
        assert_eq!(owner("nexmark", 1, 4), (1418331602 + 1) % 4);
        let mut seen = [0; 3];
        for p in 0..9 {
            seen[owner("t", p, 3)] += 1;
        }
        assert_eq!(seen, [3, 3, 3]);
    }
}
