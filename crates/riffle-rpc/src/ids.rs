//! Flink-style identifiers: 16 bytes, written as 32 lowercase hex digits.
//!
//! Job ids, TaskManager resource ids and trigger ids all look the same on
//! the REST API. Random ids mix the clock, the process id, a counter and the
//! standard library's per-process random hash keys through a 128-bit FNV-1a
//! hash (ids need to be unique, not secret); seeded
//! ids (`--job-id-seed`) hash only the seed, so they are stable across
//! restarts and machines.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 16-byte id.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AbstractId(pub u128);

impl AbstractId {
    /// A fresh id, unique within and across processes.
    pub fn random() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut bytes = Vec::with_capacity(40);
        bytes.extend_from_slice(&nanos.to_le_bytes());
        bytes.extend_from_slice(&std::process::id().to_le_bytes());
        bytes.extend_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        // Seeded from the OS's randomness once per thread by the standard library.
        let entropy = RandomState::new().build_hasher().finish();
        bytes.extend_from_slice(&entropy.to_le_bytes());
        AbstractId(fnv1a_128(&bytes))
    }

    /// The id derived from a seed: the same seed always gives the same id.
    pub fn from_seed(seed: &str) -> Self {
        AbstractId(fnv1a_128(seed.as_bytes()))
    }

    /// The id a name stands for: the name itself when it is an id's hex
    /// form, else the id derived from it (`taskmanager.resource-id` = a pod name).
    pub fn from_name(name: &str) -> Self {
        name.parse().unwrap_or_else(|_| AbstractId::from_seed(name))
    }
}

/// The id of a job's vertex (Flink's `JobVertexID`): derived from the job id
/// and the vertex index, so the JobManager's REST API and the TaskManagers'
/// metric labels agree without exchanging it.
pub fn vertex_id(job_id: JobId, vertex: usize) -> AbstractId {
    AbstractId::from_seed(&format!("{job_id}/vertex/{vertex}"))
}

fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for b in bytes {
        h ^= u128::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    h
}

impl fmt::Display for AbstractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for AbstractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an id: expected 32 hexadecimal characters")]
pub struct BadId(pub String);

impl FromStr for AbstractId {
    type Err = BadId;

    fn from_str(s: &str) -> Result<Self, BadId> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadId(s.to_string()));
        }
        u128::from_str_radix(s, 16)
            .map(AbstractId)
            .map_err(|_| BadId(s.to_string()))
    }
}

impl Serialize for AbstractId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AbstractId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A job's id.
pub type JobId = AbstractId;
/// A process's (TaskManager's, JobManager's) resource id.
pub type ResourceId = AbstractId;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_as_32_hex_and_parse_back() {
        let id = AbstractId::random();
        let s = id.to_string();
        assert_eq!(s.len(), 32);
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(s.parse::<AbstractId>(), Ok(id));
        assert_ne!(AbstractId::random(), AbstractId::random());
    }

    #[test]
    fn seeded_ids_are_stable() {
        assert_eq!(AbstractId::from_seed("q5"), AbstractId::from_seed("q5"));
        assert_ne!(AbstractId::from_seed("q5"), AbstractId::from_seed("q6"));
        assert_eq!(
            AbstractId::from_seed("").to_string(),
            "6c62272e07bb014262b821756295c58d"
        );
    }

    #[test]
    fn bad_ids_are_refused() {
        assert!("abc".parse::<AbstractId>().is_err());
        assert!("g".repeat(32).parse::<AbstractId>().is_err());
        assert!(serde_json::from_str::<AbstractId>("\"00000000000000000000000000000001\"").is_ok());
    }
}
