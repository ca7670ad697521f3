//! `SEMI` and `ANTI` joins (`IN` / `EXISTS` and `NOT EXISTS` subqueries) in
//! the regular join's state: Flink's `StreamingSemiAntiJoinOperator`.
//!
//! Both sides keep their rows per key with multiplicity; each left row also
//! counts the right rows it matches. A left row comes out with its own kind
//! when it arrives or is retracted, if it has a match (semi) or none
//! (anti). A right row changes the counts of the left rows it matches: a
//! left row's first match emits it (`+I`, semi) or retracts it (`-D`, anti),
//! the loss of its last match the opposite. Only left columns carry values;
//! the operator's right columns are null and projected away by the planner.

use std::sync::Arc;

use riffle_common::{Chunk, RowKind};

use super::{Encoded, Join, Pair};
use crate::Result;
use crate::operator::Output;

impl Join {
    /// Processes a chunk of a semi or anti join; `matched` holds each row's
    /// candidates on the other side (see [`Join::matches`]).
    pub(super) fn process_semi_anti(
        &mut self,
        input: usize,
        chunk: &Chunk,
        enc: &Encoded,
        matched: &[Vec<usize>],
        now: i64,
        out: &mut Output,
    ) -> Result<()> {
        // Whether a left row with this many matches is in the output.
        let semi = self.spec.kind == super::JoinKind::Semi;
        let shown = |matches: u32| (matches > 0) == semi;
        let mut pairs: Vec<Pair> = Vec::new();
        for (i, matched) in matched.iter().enumerate() {
            let kind = chunk.kind(i);
            let accumulate = kind.is_accumulate();
            let (key, kg) = (enc.key(i), enc.key_groups[i]);
            let row: Arc<[u8]> = Arc::from(enc.rows.row(i).data());
            if input == 0 {
                let right = self.sides[1].state.get(key, kg);
                let n: u32 = matched
                    .iter()
                    .filter_map(|&j| right.and_then(|r| r.get(j)))
                    .map(|h| h.count)
                    .sum();
                if shown(n) {
                    pairs.push((Some(Arc::clone(&row)), None, kind));
                }
                if accumulate {
                    self.sides[0].add(key, kg, &row, n, now);
                } else {
                    self.sides[0].remove_one(key, kg, &row);
                }
                continue;
            }
            if !matched.is_empty()
                && let Some(left) = self.sides[0].state.get_mut(key, kg)
            {
                for &j in matched {
                    let Some(h) = left.get_mut(j) else { continue };
                    let before = shown(h.matches);
                    h.matches = if accumulate {
                        h.matches.saturating_add(1)
                    } else {
                        h.matches.saturating_sub(1)
                    };
                    h.written = now;
                    let after = shown(h.matches);
                    if before != after {
                        let kind = if after {
                            RowKind::Insert
                        } else {
                            RowKind::Delete
                        };
                        for _ in 0..h.count {
                            pairs.push((Some(Arc::clone(&h.row)), None, kind));
                        }
                    }
                }
            }
            if accumulate {
                self.sides[1].add(key, kg, &row, 0, now);
            } else {
                self.sides[1].remove_one(key, kg, &row);
            }
        }
        for slice in pairs.chunks(super::PAIRS_PER_BATCH) {
            out.emit(self.assemble(slice)?);
        }
        Ok(())
    }
}
