//! The snapshot file of one operator instance.
//!
//! Layout (integers little-endian):
//! ```text
//! "RFLS" | version u8 | uid str | descriptor str | key groups start u16, end u16
//! | keyed entry count u64 | keyed bytes (len-prefixed) | item count u64 | items (len-prefixed each)
//! | CRC-32 of everything before, u32
//! ```
//! The header repeats what the checkpoint metadata says about the file, so
//! a file moved to the wrong place or written by another shape of state is
//! refused with a message instead of being misread.

use riffle_common::keygroup::KeyGroupRange;

use super::OperatorSnapshot;
use super::codec::{Decoder, Encoder, crc32};
use crate::{Error, Result};

const MAGIC: &[u8; 4] = b"RFLS";
const VERSION: u8 = 1;

/// A decoded snapshot file.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    /// The operator's uid.
    pub uid: String,
    /// The operator's state descriptor when it wrote the file.
    pub descriptor: String,
    /// The writer's key-group range.
    pub key_groups: KeyGroupRange,
    /// Number of keyed entries.
    pub keyed_count: u64,
    /// The keyed entries, still encoded.
    pub keyed: Vec<u8>,
    /// Operator-state items.
    pub items: Vec<Vec<u8>>,
}

impl SnapshotFile {
    /// Frames an operator instance's snapshot.
    pub fn encode(
        uid: &str,
        descriptor: &str,
        key_groups: KeyGroupRange,
        mut snapshot: OperatorSnapshot,
    ) -> Result<Vec<u8>> {
        snapshot.finish()?;
        let keyed = snapshot.keyed.into_bytes();
        let mut e = Encoder::new();
        e.raw(MAGIC);
        e.u8(VERSION);
        e.str(uid);
        e.str(descriptor);
        e.u16(key_groups.start.min(u16::MAX as usize) as u16);
        e.u16(key_groups.end.min(u16::MAX as usize) as u16);
        e.u64(snapshot.keyed_count);
        e.bytes(&keyed);
        e.u64(snapshot.items.len() as u64);
        for item in &snapshot.items {
            e.bytes(item);
        }
        let mut bytes = e.into_bytes();
        let crc = crc32(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        Ok(bytes)
    }

    /// Reads a file, checking its magic, version and checksum.
    pub fn decode(bytes: &[u8]) -> Result<SnapshotFile> {
        if bytes.len() < MAGIC.len() + 1 + 4 || &bytes[..4] != MAGIC {
            return Err(Error::External(
                "not a Riffle state file (bad magic bytes or too short)".into(),
            ));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 4);
        let mut crc = [0u8; 4];
        crc.copy_from_slice(tail);
        if crc32(body) != u32::from_le_bytes(crc) {
            return Err(Error::External(
                "the state file fails its checksum (corrupt or truncated)".into(),
            ));
        }
        let mut d = Decoder::new(body);
        d.raw(4)?;
        let version = d.u8()?;
        if version != VERSION {
            return Err(Error::External(format!(
                "state file version {version} is not supported (this Riffle reads version {VERSION})"
            )));
        }
        let uid = d.str()?.to_string();
        let descriptor = d.str()?.to_string();
        let start = usize::from(d.u16()?);
        let end = usize::from(d.u16()?);
        let keyed_count = d.u64()?;
        let keyed = d.bytes()?.to_vec();
        let n = d.len_prefix(8)?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(d.bytes()?.to_vec());
        }
        Ok(SnapshotFile {
            uid,
            descriptor,
            key_groups: KeyGroupRange { start, end },
            keyed_count,
            keyed,
            items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_detection() {
        let mut snap = OperatorSnapshot::default();
        snap.keyed(3, b"key", |e| {
            e.i64(42);
            Ok(())
        })
        .unwrap();
        snap.item(b"split".to_vec());
        let bytes =
            SnapshotFile::encode("uid1", "d", KeyGroupRange { start: 0, end: 9 }, snap).unwrap();
        let f = SnapshotFile::decode(&bytes).unwrap();
        assert_eq!(
            (f.uid.as_str(), f.descriptor.as_str(), f.keyed_count),
            ("uid1", "d", 1)
        );
        assert_eq!(f.items, vec![b"split".to_vec()]);
        assert_eq!(f.key_groups, KeyGroupRange { start: 0, end: 9 });
        for cut in [0, 3, 10, bytes.len() - 1] {
            assert!(SnapshotFile::decode(&bytes[..cut]).is_err());
        }
        let mut flipped = bytes.clone();
        flipped[12] ^= 1;
        assert!(
            SnapshotFile::decode(&flipped)
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
    }
}
