//! Whether each resource's spec plans, remembered per spec.
//!
//! Planning parses the job's SQL and builds the cluster's pods. The rules
//! ask only when the answer matters, but a spec that is never deployed (a
//! FlinkDeployment created suspended) asks at every reconciliation; with a
//! hundred of them the SQL planner's code and allocations never left the
//! operator's resident set. The answer depends only on the spec (and the
//! operator's fixed defaults), so it is kept under the spec's hash.

use std::collections::HashMap;
use std::sync::Mutex;

/// The remembered answers, by resource (`Kind namespace/name`).
#[derive(Debug, Default)]
pub(super) struct Verdicts {
    known: Mutex<HashMap<String, Verdict>>,
}

/// A spec's hash and whether it plans (else why not).
type Verdict = (u64, Result<(), String>);

impl Verdicts {
    /// Whether the spec of resource `key` with hash `spec_hash` plans: the
    /// answer remembered for that spec, else `check`'s (then remembered).
    pub(super) fn get_or_check(
        &self,
        key: &str,
        spec_hash: u64,
        check: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), String> {
        if let Ok(known) = self.known.lock()
            && let Some((hash, answer)) = known.get(key)
            && *hash == spec_hash
        {
            return answer.clone();
        }
        let answer = check();
        if let Ok(mut known) = self.known.lock() {
            known.insert(key.to_string(), (spec_hash, answer.clone()));
        }
        answer
    }

    /// Forgets resource `key` (it went).
    pub(super) fn forget(&self, key: &str) {
        if let Ok(mut known) = self.known.lock() {
            known.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn a_spec_is_checked_once_until_it_changes_or_its_resource_goes() {
        let verdicts = Verdicts::default();
        let checks = Cell::new(0);
        let check = |answer: Result<(), String>| {
            checks.set(checks.get() + 1);
            answer
        };
        assert_eq!(verdicts.get_or_check("ns/a", 1, || check(Ok(()))), Ok(()));
        assert_eq!(verdicts.get_or_check("ns/a", 1, || check(Ok(()))), Ok(()));
        assert_eq!(checks.get(), 1);
        // Another resource with the same spec is its own question.
        assert_eq!(verdicts.get_or_check("ns/b", 1, || check(Ok(()))), Ok(()));
        assert_eq!(checks.get(), 2);
        // A changed spec is checked again, and a refusal is remembered too.
        let refused = || check(Err("line 1, column 8: no such table".into()));
        assert!(verdicts.get_or_check("ns/a", 2, refused).is_err());
        assert!(verdicts.get_or_check("ns/a", 2, || check(Ok(()))).is_err());
        assert_eq!(checks.get(), 3);
        verdicts.forget("ns/a");
        assert_eq!(verdicts.get_or_check("ns/a", 2, || check(Ok(()))), Ok(()));
        assert_eq!(checks.get(), 4);
    }
}
