//! `Join`: a regular (unwindowed) join of two changelog streams, INNER,
//! LEFT, RIGHT or FULL OUTER, on equality keys plus an optional residual
//! condition — Flink's `StreamingJoinOperator`.
//!
//! Each side keeps, per join key, every row it has seen with its
//! multiplicity; an outer side also keeps, per row, how many rows of the
//! other side it is joined with, so it knows when its null-padded row must
//! be retracted (the first match arrived) or emitted again (the last match
//! went). A row is matched against the other side's rows of its key that
//! satisfy the residual condition; rows whose key has a null match nothing
//! (SQL equality), but an outer side still emits them padded.
//!
//! The changelog follows Flink's rules exactly:
//! - an accumulating row (`+I`/`+U`) of an outer side emits `+I` with each
//!   match, or `+I` padded when there is none; of an inner side, its matches
//!   with its own kind (`+I` or `+U`), or `+I` when the other side is outer;
//!   a match of an outer other side that had no match before first retracts
//!   that row's padded output (`-D`);
//! - a retracting row (`-U`/`-D`) emits `-D` with each match when its side is
//!   outer, else its own kind; padded `-D` when an outer side's row had no
//!   match; and an outer other side's row that loses its last match is
//!   emitted padded again (`+I`).
//!
//! State is keyed by the join key in key groups, so it snapshots, restores
//! and rescales like the other keyed operators. With a state TTL per side
//! (`table.exec.state.ttl`, the `STATE_TTL` hint) each kept row remembers
//! when it was last written and is forgotten one TTL later (see [`crate::ttl`]).
//!
//! The lookup join ([`lookup`]) reads a bounded table instead of a second
//! input and keeps no state; the event-time temporal join ([`temporal`])
//! joins a stream with the versions of a table as of each row's time.
//!
//! The interval join ([`interval`]) shares this module's row handling: how
//! an input is keyed and encoded, the residual condition over candidate
//! pairs, and the assembly of output rows.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, Rows, SortField};
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::{Chunk, RowKind};

use crate::checkpoint::{Decoder, Encoder, OperatorSnapshot, RestoredState};
use crate::clock::Clock;
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
use crate::operators::aggregate::keys::{assemble, keys_descriptor};
use crate::state::{FrozenState, KeyEncoder, KeyedState};
use crate::ttl::{Expiry, StateTtl};
use crate::{Error, Result};

mod interval;
mod lookup;
mod semi;
mod temporal;
mod window;

pub use interval::{IntervalJoinFactory, TimeBounds};
pub use lookup::{LookupJoinFactory, LookupTable};
pub use temporal::TemporalJoinFactory;
pub use window::WindowJoinFactory;

/// At most this many pairs go into one batch (the residual condition's
/// input, an output chunk).
const PAIRS_PER_BATCH: usize = 4096;

/// Which rows of a join survive without a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Only matched pairs.
    Inner,
    /// Every left row, padded when unmatched.
    Left,
    /// Every right row, padded when unmatched.
    Right,
    /// Every row of both sides.
    Full,
    /// The left rows that have a match (`IN` / `EXISTS`), left columns only.
    Semi,
    /// The left rows that have no match (`NOT EXISTS`), left columns only.
    Anti,
}

impl JoinKind {
    /// Whether side `side` (0 left, 1 right) keeps its unmatched rows.
    pub fn keeps_unmatched(self, side: usize) -> bool {
        match self {
            JoinKind::Inner | JoinKind::Semi => false,
            JoinKind::Left | JoinKind::Anti => side == 0,
            JoinKind::Right => side == 1,
            JoinKind::Full => true,
        }
    }

    /// Whether only left rows come out (`SEMI` / `ANTI`): their operator's
    /// output still has the right columns, all null, which the planner
    /// projects away.
    pub fn is_semi_or_anti(self) -> bool {
        matches!(self, JoinKind::Semi | JoinKind::Anti)
    }

    /// Flink's name in plans (`InnerJoin`, `LeftOuterJoin`, ...).
    fn flink_name(self) -> &'static str {
        match self {
            JoinKind::Inner => "InnerJoin",
            JoinKind::Left => "LeftOuterJoin",
            JoinKind::Right => "RightOuterJoin",
            JoinKind::Full => "FullOuterJoin",
            JoinKind::Semi => "LeftSemiJoin",
            JoinKind::Anti => "LeftAntiJoin",
        }
    }
}

/// How a join input's rows are told apart — Flink's join input specs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum InputSpec {
    /// No unique key: rows are kept with their multiplicity.
    #[default]
    NoUniqueKey,
    /// A unique key within the join key: one row per join key, which a new
    /// row replaces and a retraction clears.
    JoinKeyContainsUniqueKey,
    /// A unique key (these columns) outside the join key. A consistent
    /// changelog then holds each key's row once, so rows are kept as
    /// without one; EXPLAIN names the key.
    HasUniqueKey(Vec<usize>),
}

impl InputSpec {
    /// Flink's EXPLAIN text, with `names` the input's column names.
    fn explain(&self, names: &SchemaRef) -> String {
        match self {
            InputSpec::NoUniqueKey => "NoUniqueKey".into(),
            InputSpec::JoinKeyContainsUniqueKey => "JoinKeyContainsUniqueKey".into(),
            InputSpec::HasUniqueKey(cols) => {
                let cols: Vec<&str> = cols
                    .iter()
                    .filter_map(|&i| names.fields().get(i).map(|f| f.name().as_str()))
                    .collect();
                format!("HasUniqueKey(keys=[{}])", cols.join(", "))
            }
        }
    }
}

/// A regular join, as stored in the job graph. Input 0 is the left side,
/// input 1 the right; the output is the left columns, then the right.
#[derive(Debug, Clone)]
pub struct JoinFactory {
    /// The join type.
    pub kind: JoinKind,
    /// Equality keys over the left input.
    pub left_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Equality keys over the right input, pairwise of the same types.
    pub right_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The residual condition, over the output schema.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// Schema of the left input.
    pub left_schema: SchemaRef,
    /// Schema of the right input.
    pub right_schema: SchemaRef,
    /// Left columns then right columns.
    pub output_schema: SchemaRef,
    /// How long each side (left, right) keeps a row after its last write;
    /// `None`: for ever.
    pub ttl: [Option<StateTtl>; 2],
    /// Each side's unique key, if it has one.
    pub input_specs: [InputSpec; 2],
    /// Whether each input (left, right) only appends rows. Such a side keeps
    /// its rows as they come: no retraction will look for an equal row, so
    /// adding one does not search the key's rows for it (which made a key
    /// with many rows quadratic, e.g. q23's bids per bidder).
    pub appends_only: [bool; 2],
}

impl OperatorFactory for JoinFactory {
    fn name(&self) -> String {
        "Join".into()
    }

    fn explain(&self) -> String {
        let mut extra = format!(
            ", leftInputSpec=[{}], rightInputSpec=[{}]",
            self.input_specs[0].explain(&self.left_schema),
            self.input_specs[1].explain(&self.right_schema)
        );
        if let [l, r] = self.ttl
            && (l.is_some() || r.is_some())
        {
            let text = |t: Option<StateTtl>| t.map_or("none".into(), |t| t.to_string());
            extra.push_str(&format!(", stateTtl=[left={}, right={}]", text(l), text(r)));
        }
        explain_keyed(
            self.kind,
            &self.left_keys,
            &self.right_keys,
            &extra,
            self.filter.as_ref(),
        )
    }

    fn produces_updates(&self) -> bool {
        // Inner joins of append-only inputs only insert; that is decided by
        // the planner, which knows the inputs. Outer joins retract padding,
        // semi and anti joins rows whose last match went (or first came).
        self.kind != JoinKind::Inner
    }

    fn create(&self, task: &TaskInfo) -> Result<Box<dyn Operator>> {
        Ok(Box::new(self.build(task, Clock::System)?))
    }

    fn state_descriptor(&self) -> Option<String> {
        let descriptor = state_descriptor(
            "Join",
            self.kind,
            &self.left_keys,
            &self.left_schema,
            &self.right_schema,
        );
        // With a TTL every row carries its write time.
        Some(if self.ttl == [None, None] {
            descriptor
        } else {
            descriptor + " ttl"
        })
    }
}

impl JoinFactory {
    fn build(&self, task: &TaskInfo, clock: Clock) -> Result<Join> {
        check_key_types(
            &self.left_keys,
            &self.right_keys,
            &self.left_schema,
            &self.right_schema,
        )?;
        let side = |keys: &[Arc<dyn PhysicalExpr>], schema: &SchemaRef, i: usize| -> Result<Side> {
            Ok(Side {
                codec: Codec::new(keys, schema, task)?,
                state: KeyedState::default(),
                ttl: self.ttl[i],
                one_per_key: self.input_specs[i] == InputSpec::JoinKeyContainsUniqueKey,
                appends_only: self.appends_only[i],
            })
        };
        let left = side(&self.left_keys, &self.left_schema, 0)?;
        let right = side(&self.right_keys, &self.right_schema, 1)?;
        Ok(Join {
            expiry: Expiry::new(&self.ttl, clock),
            spec: self.clone(),
            sides: [left, right],
        })
    }
}

/// EXPLAIN's text of a join on equality keys: its type, the keys, `extra`
/// (`, name=[value]` items) and the residual condition.
fn explain_keyed(
    kind: JoinKind,
    left_keys: &[Arc<dyn PhysicalExpr>],
    right_keys: &[Arc<dyn PhysicalExpr>],
    extra: &str,
    filter: Option<&Arc<dyn PhysicalExpr>>,
) -> String {
    let keys = |k: &[Arc<dyn PhysicalExpr>]| {
        k.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = format!(
        "joinType=[{}], leftKeys=[{}], rightKeys=[{}]{extra}",
        kind.flink_name(),
        keys(left_keys),
        keys(right_keys)
    );
    if let Some(f) = filter {
        s.push_str(&format!(", where=[{f}]"));
    }
    s
}

/// The state descriptor of join operator `name`: its type, the key types
/// and the types of both sides' rows (what its snapshots encode).
fn state_descriptor(
    name: &str,
    kind: JoinKind,
    left_keys: &[Arc<dyn PhysicalExpr>],
    left_schema: &SchemaRef,
    right_schema: &SchemaRef,
) -> String {
    let rows = |s: &SchemaRef| {
        s.fields()
            .iter()
            .map(|f| crate::checkpoint::codec::type_text(f.data_type()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{name} v1 {} keys [{}] left [{}] right [{}]",
        kind.flink_name(),
        keys_descriptor(left_keys, left_schema),
        rows(left_schema),
        rows(right_schema)
    )
}

/// Fails unless `kind` is INNER or LEFT, the only temporal joins.
fn inner_or_left(kind: JoinKind, what: &str) -> Result<()> {
    if matches!(kind, JoinKind::Inner | JoinKind::Left) {
        return Ok(());
    }
    Err(Error::Internal(format!(
        "a {what} is INNER or LEFT, not {kind:?}"
    )))
}

/// A row kept by one side.
#[derive(Clone)]
struct Held {
    /// The row, in the side's row format.
    row: Arc<[u8]>,
    /// How many times it is there.
    count: u32,
    /// With how many rows of the other side it is joined (outer sides only).
    matches: u32,
    /// When it was last written (processing time, ms; with a TTL only).
    written: i64,
}

/// How one input's rows are keyed and stored: its join keys, their
/// encoder, and the row format its rows are kept in.
struct Codec {
    keys: Vec<Arc<dyn PhysicalExpr>>,
    encoder: KeyEncoder,
    rows: RowConverter,
}

impl Codec {
    /// The codec of an input of schema `schema` joined on `keys`.
    fn new(keys: &[Arc<dyn PhysicalExpr>], schema: &SchemaRef, task: &TaskInfo) -> Result<Codec> {
        let types = keys
            .iter()
            .map(|e| e.data_type(schema))
            .collect::<datafusion_common::Result<Vec<_>>>()?;
        let rows = schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        Ok(Codec {
            keys: keys.to_vec(),
            encoder: KeyEncoder::new(&types, task.max_parallelism)?,
            rows: RowConverter::new(rows)?,
        })
    }

    /// Encodes the rows of `batch` and their keys.
    fn encode(&mut self, batch: &RecordBatch) -> Result<Encoded> {
        let n = batch.num_rows();
        let cols = self
            .keys
            .iter()
            .map(|e| e.evaluate(batch).and_then(|v| v.into_array(n)))
            .collect::<datafusion_common::Result<Vec<ArrayRef>>>()?;
        let null_key = (0..n).map(|i| cols.iter().any(|c| c.is_null(i))).collect();
        let (keys, key_groups) = if cols.is_empty() {
            (None, vec![0; n])
        } else {
            let (keys, key_groups) = self.encoder.encode(&cols)?;
            (Some(keys), key_groups)
        };
        let rows = self.rows.convert_columns(batch.columns())?;
        Ok(Encoded {
            keys,
            key_groups,
            null_key,
            rows,
        })
    }
}

/// Checks that the join keys of both sides have the same types.
fn check_key_types(
    left_keys: &[Arc<dyn PhysicalExpr>],
    right_keys: &[Arc<dyn PhysicalExpr>],
    left_schema: &SchemaRef,
    right_schema: &SchemaRef,
) -> Result<()> {
    if left_keys.len() != right_keys.len() {
        return Err(Error::Internal(format!(
            "join with {} left keys and {} right keys",
            left_keys.len(),
            right_keys.len()
        )));
    }
    for (l, r) in left_keys.iter().zip(right_keys) {
        let (lt, rt) = (l.data_type(left_schema)?, r.data_type(right_schema)?);
        if lt != rt {
            return Err(Error::Internal(format!(
                "join keys {l} ({lt}) and {r} ({rt}) differ in type"
            )));
        }
    }
    Ok(())
}

/// Which candidate pairs satisfy `filter` (over the output schema): each
/// pair is a row of `chunk` (arriving on `input`) and a row of the other
/// side in that side's row format. Evaluated over batches of at most
/// [`PAIRS_PER_BATCH`] pairs, so a join without keys cannot build one
/// enormous batch.
fn residual(
    filter: &Arc<dyn PhysicalExpr>,
    output_schema: &SchemaRef,
    input: usize,
    chunk: &Chunk,
    other: &RowConverter,
    pairs: &[(u32, Arc<[u8]>)],
) -> Result<Vec<bool>> {
    let mut verdict: Vec<bool> = Vec::with_capacity(pairs.len());
    for slice in pairs.chunks(PAIRS_PER_BATCH) {
        let own_idx = UInt32Array::from_iter_values(slice.iter().map(|p| p.0));
        let own: Vec<ArrayRef> = chunk
            .data
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &own_idx, None))
            .collect::<std::result::Result<_, _>>()?;
        let parser = other.parser();
        let theirs = other.convert_rows(slice.iter().map(|p| parser.parse(&p.1)))?;
        let cols = if input == 0 {
            own.into_iter().chain(theirs).collect()
        } else {
            theirs.into_iter().chain(own).collect()
        };
        let batch = RecordBatch::try_new(Arc::clone(output_schema), cols)?;
        holds(filter, &batch, &mut verdict)?;
    }
    Ok(verdict)
}

/// Appends, per row of `batch`, whether `filter` is true (NULL is not).
pub(super) fn holds(
    filter: &Arc<dyn PhysicalExpr>,
    batch: &RecordBatch,
    verdict: &mut Vec<bool>,
) -> Result<()> {
    let v = filter
        .evaluate(batch)
        .and_then(|v| v.into_array(batch.num_rows()))?;
    let v = v
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| Error::Internal("a join condition that is not boolean".into()))?;
    verdict.extend((0..v.len()).map(|i| v.is_valid(i) && v.value(i)));
    Ok(())
}

/// Builds the output chunk of `pairs`, whose rows are in the row formats of
/// `codecs` (left, right).
fn assemble_pairs(output_schema: &SchemaRef, codecs: [&Codec; 2], pairs: &[Pair]) -> Result<Chunk> {
    let side_columns = |codec: &Codec, pick: &dyn Fn(&Pair) -> Option<&Arc<[u8]>>| {
        let present: Vec<&Arc<[u8]>> = pairs.iter().filter_map(pick).collect();
        let parser = codec.rows.parser();
        let cols = codec
            .rows
            .convert_rows(present.iter().map(|r| parser.parse(r)))?;
        let mut next = 0u32;
        let idx: UInt32Array = pairs
            .iter()
            .map(|p| {
                pick(p).map(|_| {
                    next += 1;
                    next - 1
                })
            })
            .collect();
        cols.iter()
            .map(|c| Ok(take(c.as_ref(), &idx, None)?))
            .collect::<Result<Vec<ArrayRef>>>()
    };
    let mut cols = side_columns(codecs[0], &|p| p.0.as_ref())?;
    cols.extend(side_columns(codecs[1], &|p| p.1.as_ref())?);
    let kinds = pairs.iter().map(|p| p.2 as u8).collect();
    assemble(output_schema, cols, Vec::new(), Some(kinds))
}

/// Which of `pairs` (both rows present, in the row formats of `codecs`)
/// satisfy `filter` (over `output_schema`); every one without a filter.
/// Evaluated over batches of at most [`PAIRS_PER_BATCH`] pairs.
fn passing(
    filter: Option<&Arc<dyn PhysicalExpr>>,
    output_schema: &SchemaRef,
    codecs: [&Codec; 2],
    pairs: &[Pair],
) -> Result<Vec<bool>> {
    let Some(filter) = filter else {
        return Ok(vec![true; pairs.len()]);
    };
    let mut verdict = Vec::with_capacity(pairs.len());
    for slice in pairs.chunks(PAIRS_PER_BATCH) {
        let batch = assemble_pairs(output_schema, codecs, slice)?;
        holds(filter, &batch.data, &mut verdict)?;
    }
    Ok(verdict)
}

/// Keeps, of each row's candidates, those whose pair passed the residual
/// condition (`verdict` holds one answer per candidate, in order).
fn keep_passing(candidates: &mut [Vec<usize>], verdict: &[bool]) {
    let mut at = 0;
    for c in candidates.iter_mut() {
        let mut kept = Vec::with_capacity(c.len());
        for j in c.iter() {
            if verdict.get(at).copied().unwrap_or(false) {
                kept.push(*j);
            }
            at += 1;
        }
        *c = kept;
    }
}

/// Writes both sides' state into a snapshot, later: each entry under its
/// side's number, then its key; `value` writes what one key holds.
fn snapshot_sides<V: Send + Sync + 'static>(
    snap: &mut OperatorSnapshot,
    frozen: [FrozenState<V>; 2],
    value: fn(&mut Encoder, &V),
) {
    snap.keyed_later(move |snap| {
        for (side, state) in frozen.iter().enumerate() {
            for (key, kg, held) in state.iter() {
                let mut k = Vec::with_capacity(key.len() + 1);
                k.push(side as u8);
                k.extend_from_slice(key);
                snap.keyed(kg, &k, |e| {
                    value(e, held);
                    Ok(())
                })?;
            }
        }
        Ok(())
    });
}

/// Reads state written by [`snapshot_sides`]: `entry` gets each entry's
/// side, key, key group and value.
fn restore_sides(
    state: RestoredState,
    what: &str,
    mut entry: impl FnMut(usize, &[u8], u16, Decoder<'_>) -> Result<()>,
) -> Result<()> {
    state.for_each_keyed(|e| match e.key.split_first() {
        Some((s @ (0 | 1), key)) => entry(*s as usize, key, e.key_group, Decoder::new(e.value)),
        _ => Err(Error::External(format!(
            "corrupt {what} state: an entry of no side"
        ))),
    })
}

/// One input of the regular join.
struct Side {
    codec: Codec,
    state: KeyedState<Vec<Held>>,
    ttl: Option<StateTtl>,
    /// The join key holds a unique key: one row per key.
    one_per_key: bool,
    /// The input never retracts: equal rows are kept apart, not counted.
    appends_only: bool,
}

impl Side {
    /// Keeps one more copy of `row`, joined with `matches` rows of the
    /// other side, written at `now`.
    fn add(&mut self, key: &[u8], kg: u16, row: &Arc<[u8]>, matches: u32, now: i64) {
        let held = self.state.get_or_insert_with(key, kg, Vec::new);
        if self.one_per_key {
            // The key's one row: a new one replaces it.
            held.clear();
        }
        let equal = if self.appends_only {
            None
        } else {
            held.iter_mut().find(|h| h.row == *row)
        };
        match equal {
            Some(h) => {
                h.count += 1;
                h.matches = matches;
                h.written = now;
            }
            None => held.push(Held {
                row: Arc::clone(row),
                count: 1,
                matches,
                written: now,
            }),
        }
    }

    /// Forgets the rows of one key that expired by `now`.
    fn expire_key(&mut self, key: &[u8], kg: u16, now: i64) {
        let Some(ttl) = self.ttl else { return };
        let stale = |h: &Held| ttl.expired(h.written, now);
        if !self
            .state
            .get(key, kg)
            .is_some_and(|held| held.iter().any(stale))
        {
            return;
        }
        let mut emptied = false;
        if let Some(held) = self.state.get_mut(key, kg) {
            held.retain(|h| !stale(h));
            emptied = held.is_empty();
        }
        if emptied {
            self.state.remove(key, kg);
        }
    }

    /// Forgets every row that expired by `now`.
    fn expire_all(&mut self, now: i64) {
        let Some(ttl) = self.ttl else { return };
        let stale = |h: &Held| ttl.expired(h.written, now);
        self.state.sweep(
            |held| held.iter().any(stale),
            |held| {
                held.retain(|h| !stale(h));
                !held.is_empty()
            },
        );
    }

    /// Forgets one copy of `row` (a retraction).
    fn remove_one(&mut self, key: &[u8], kg: u16, row: &Arc<[u8]>) {
        if self.one_per_key {
            // The key's one row goes, whatever it was.
            self.state.remove(key, kg);
            return;
        }
        let mut emptied = false;
        if let Some(held) = self.state.get_mut(key, kg)
            && let Some(at) = held.iter().position(|h| h.row == *row)
        {
            if let Some(h) = held.get_mut(at) {
                h.count -= 1;
                if h.count == 0 {
                    held.remove(at);
                }
            }
            emptied = held.is_empty();
        }
        if emptied {
            self.state.remove(key, kg);
        }
    }
}

struct Join {
    spec: JoinFactory,
    sides: [Side; 2],
    expiry: Expiry,
}

/// One output row: the left and right rows (`None`: padded) and its kind.
type Pair = (Option<Arc<[u8]>>, Option<Arc<[u8]>>, RowKind);

/// The rows of one input chunk, encoded.
struct Encoded {
    /// The join keys (`None` without equality keys: every row has the
    /// empty key, in key group 0).
    keys: Option<Rows>,
    key_groups: Vec<u16>,
    /// Whether a row's key has a null (it matches nothing).
    null_key: Vec<bool>,
    rows: Rows,
}

impl Encoded {
    /// The key bytes of row `i`.
    fn key(&self, i: usize) -> &[u8] {
        self.keys.as_ref().map_or(&[], |k| k.row(i).data())
    }
}

impl Join {
    /// Forgets every row that expired by `now`, and plans the next sweep.
    fn expire(&mut self, now: i64) {
        for side in &mut self.sides {
            side.expire_all(now);
        }
        self.expiry.swept(now);
    }

    /// The candidates of each input row: indexes into the other side's rows
    /// of its key, kept when the residual condition holds for the pair.
    fn matches(&self, input: usize, chunk: &Chunk, enc: &Encoded) -> Result<Vec<Vec<usize>>> {
        let other = &self.sides[1 - input];
        let n = chunk.num_rows();
        let mut candidates: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut pairs: Vec<(u32, Arc<[u8]>)> = Vec::new();
        for (i, c) in candidates.iter_mut().enumerate() {
            if enc.null_key[i] {
                continue;
            }
            if let Some(held) = other.state.get(enc.key(i), enc.key_groups[i]) {
                for (j, h) in held.iter().enumerate() {
                    c.push(j);
                    pairs.push((i as u32, Arc::clone(&h.row)));
                }
            }
        }
        let Some(filter) = &self.spec.filter else {
            return Ok(candidates);
        };
        if pairs.is_empty() {
            return Ok(candidates);
        }
        let verdict = residual(
            filter,
            &self.spec.output_schema,
            input,
            chunk,
            &other.codec.rows,
            &pairs,
        )?;
        keep_passing(&mut candidates, &verdict);
        Ok(candidates)
    }

    /// Builds the output chunk of `pairs`.
    fn assemble(&self, pairs: &[Pair]) -> Result<Chunk> {
        let codecs = [&self.sides[0].codec, &self.sides[1].codec];
        assemble_pairs(&self.spec.output_schema, codecs, pairs)
    }
}

/// `(own, other)` as `(left, right)` for input `input`.
fn oriented(input: usize, own: Option<Arc<[u8]>>, other: Option<Arc<[u8]>>, kind: RowKind) -> Pair {
    if input == 0 {
        (own, other, kind)
    } else {
        (other, own, kind)
    }
}

impl Operator for Join {
    fn process(&mut self, input: usize, chunk: Chunk, out: &mut Output) -> Result<()> {
        if input > 1 {
            return Err(Error::Internal(format!("a join has no input {input}")));
        }
        let enc = self.sides[input].codec.encode(&chunk.data)?;
        let now = if self.expiry.enabled() {
            let now = self.expiry.now();
            for i in 0..chunk.num_rows() {
                for side in &mut self.sides {
                    side.expire_key(enc.key(i), enc.key_groups[i], now);
                }
            }
            now
        } else {
            0
        };
        let matched = self.matches(input, &chunk, &enc)?;
        if self.spec.kind.is_semi_or_anti() {
            return self.process_semi_anti(input, &chunk, &enc, &matched, now, out);
        }
        let own_outer = self.spec.kind.keeps_unmatched(input);
        let other_outer = self.spec.kind.keeps_unmatched(1 - input);
        let mut pairs: Vec<Pair> = Vec::new();
        for (i, matched) in matched.iter().enumerate() {
            let kind = chunk.kind(i);
            let accumulate = matches!(kind, RowKind::Insert | RowKind::UpdateAfter);
            let key = enc.key(i);
            let kg = enc.key_groups[i];
            let row: Arc<[u8]> = Arc::from(enc.rows.row(i).data());
            // The other side's matched rows (with their multiplicity), and
            // the padding changes their match counts call for.
            let mut others: Vec<(Arc<[u8]>, u32)> = Vec::with_capacity(matched.len());
            let mut padding: Vec<Pair> = Vec::new();
            if !matched.is_empty()
                && let Some(held) = self.sides[1 - input].state.get_mut(key, kg)
            {
                for &j in matched {
                    let Some(h) = held.get_mut(j) else { continue };
                    others.push((Arc::clone(&h.row), h.count));
                    if !other_outer {
                        continue;
                    }
                    if accumulate {
                        if h.matches == 0 {
                            for _ in 0..h.count {
                                padding.push(oriented(
                                    1 - input,
                                    Some(Arc::clone(&h.row)),
                                    None,
                                    RowKind::Delete,
                                ));
                            }
                        }
                        h.matches += 1;
                        h.written = now;
                    } else {
                        if h.matches == 1 {
                            for _ in 0..h.count {
                                padding.push(oriented(
                                    1 - input,
                                    Some(Arc::clone(&h.row)),
                                    None,
                                    RowKind::Insert,
                                ));
                            }
                        }
                        h.matches = h.matches.saturating_sub(1);
                        h.written = now;
                    }
                }
            }
            let n_matches: u32 = others.iter().map(|o| o.1).sum();
            let out_kind = match (accumulate, own_outer || other_outer) {
                (true, true) => RowKind::Insert,
                (false, _) if own_outer => RowKind::Delete,
                _ => kind,
            };
            let joined = |pairs: &mut Vec<Pair>| {
                for (o, count) in &others {
                    for _ in 0..*count {
                        pairs.push(oriented(
                            input,
                            Some(Arc::clone(&row)),
                            Some(Arc::clone(o)),
                            out_kind,
                        ));
                    }
                }
            };
            if accumulate {
                pairs.append(&mut padding);
                if others.is_empty() {
                    if own_outer {
                        pairs.push(oriented(
                            input,
                            Some(Arc::clone(&row)),
                            None,
                            RowKind::Insert,
                        ));
                    }
                } else {
                    joined(&mut pairs);
                }
                self.sides[input].add(key, kg, &row, n_matches, now);
            } else {
                if others.is_empty() {
                    if own_outer {
                        pairs.push(oriented(
                            input,
                            Some(Arc::clone(&row)),
                            None,
                            RowKind::Delete,
                        ));
                    }
                } else {
                    joined(&mut pairs);
                }
                pairs.append(&mut padding);
                self.sides[input].remove_one(key, kg, &row);
            }
        }
        for slice in pairs.chunks(PAIRS_PER_BATCH) {
            out.emit(self.assemble(slice)?);
        }
        Ok(())
    }

    fn next_processing_timer(&self) -> Option<i64> {
        self.expiry.next_sweep()
    }

    fn on_processing_time(&mut self, now_ms: i64, _out: &mut Output) -> Result<()> {
        self.expire(now_ms);
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        let timed = self.expiry.enabled();
        if timed {
            // A checkpoint holds no expired row.
            self.expire(self.expiry.now());
        }
        let frozen = [self.sides[0].state.freeze(), self.sides[1].state.freeze()];
        let value: fn(&mut Encoder, &Vec<Held>) = if timed {
            |e, held| {
                e.len_prefix(held.len());
                for h in held {
                    e.bytes(&h.row);
                    e.u32(h.count);
                    e.u32(h.matches);
                    e.i64(h.written);
                }
            }
        } else {
            |e, held| {
                e.len_prefix(held.len());
                for h in held {
                    e.bytes(&h.row);
                    e.u32(h.count);
                    e.u32(h.matches);
                }
            }
        };
        snapshot_sides(snap, frozen, value);
        Ok(())
    }

    fn restore(&mut self, state: RestoredState) -> Result<()> {
        let timed = self.expiry.enabled();
        restore_sides(state, "join", |side, key, kg, mut d| {
            let n = d.len_prefix(12)?;
            let mut held = Vec::with_capacity(n);
            for _ in 0..n {
                let row: Arc<[u8]> = Arc::from(d.bytes()?);
                let count = d.u32()?;
                let matches = d.u32()?;
                let written = if timed { d.i64()? } else { 0 };
                held.push(Held {
                    row,
                    count,
                    matches,
                    written,
                });
            }
            *self.sides[side].state.get_or_insert_with(key, kg, Vec::new) = held;
            Ok(())
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::operators::aggregate::tests::{kinds_and_rows, restored_copy, task};
    use arrow::array::{Int64Array, UInt8Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion_expr::Operator as BinOp;
    use datafusion_physical_expr::expressions::{BinaryExpr, col};
    use riffle_common::{CheckpointBarrier, Message};

    fn schema(a: &str, b: &str) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(a, DataType::Int64, true),
            Field::new(b, DataType::Int64, true),
        ]))
    }

    /// `l(k, a) JOIN r(k2, b) ON k = k2`, with `a < b` when `residual`.
    pub(crate) fn factory(kind: JoinKind, residual: bool) -> JoinFactory {
        let left = schema("k", "a");
        let right = schema("k2", "b");
        let out = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("a", DataType::Int64, true),
            Field::new("k2", DataType::Int64, true),
            Field::new("b", DataType::Int64, true),
        ]));
        let filter = residual.then(|| {
            Arc::new(BinaryExpr::new(
                col("a", &out).unwrap(),
                BinOp::Lt,
                col("b", &out).unwrap(),
            )) as Arc<dyn PhysicalExpr>
        });
        JoinFactory {
            kind,
            left_keys: vec![col("k", &left).unwrap()],
            right_keys: vec![col("k2", &right).unwrap()],
            filter,
            left_schema: left,
            right_schema: right,
            output_schema: out,
            ttl: [None, None],
            input_specs: Default::default(),
            appends_only: [false, false],
        }
    }

    /// Rows `(kind, key, value)` of side `input`.
    pub(crate) fn rows(
        f: &JoinFactory,
        input: usize,
        rows: &[(RowKind, Option<i64>, i64)],
    ) -> (usize, Message) {
        let s = if input == 0 {
            &f.left_schema
        } else {
            &f.right_schema
        };
        let batch = RecordBatch::try_new(
            Arc::clone(s),
            vec![
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap();
        let kinds = UInt8Array::from(rows.iter().map(|r| r.0 as u8).collect::<Vec<_>>());
        (
            input,
            Message::Data(Chunk::with_kinds(batch, kinds).unwrap()),
        )
    }

    /// Runs the join over `(input, message)`s; a barrier snapshots the join
    /// and a fresh instance restored from it goes on.
    fn run(f: &JoinFactory, input: Vec<(usize, Message)>) -> Vec<String> {
        let mut op = f.create(&task()).unwrap();
        let mut out = Output::default();
        let mut emitted = Vec::new();
        for (i, m) in input {
            match m {
                Message::Data(c) => op.process(i, c, &mut out).unwrap(),
                Message::Barrier(b) => {
                    let mut snap = OperatorSnapshot::default();
                    op.snapshot(b.checkpoint_id, &mut snap).unwrap();
                    op = restored_copy(f, snap);
                }
                _ => {}
            }
            emitted.extend(out.drain());
        }
        kinds_and_rows(&emitted)
    }

    /// A checkpoint barrier on input 0.
    pub(crate) fn barrier() -> (usize, Message) {
        (
            0,
            Message::Barrier(CheckpointBarrier {
                checkpoint_id: 1,
                timestamp_ms: 0,
                is_savepoint: false,
                stop: false,
            }),
        )
    }

    /// Runs the operator of `f` over `(input, message)`s, watermarks
    /// included; a barrier snapshots it and a restored copy goes on. Returns
    /// the rows emitted.
    pub(crate) fn drive(f: &dyn OperatorFactory, input: Vec<(usize, Message)>) -> Vec<String> {
        let mut op = f.create(&task()).unwrap();
        let mut out = Output::default();
        let mut emitted = Vec::new();
        for (i, m) in input {
            match m {
                Message::Data(c) => op.process(i, c, &mut out).unwrap(),
                Message::Watermark(w) => op.on_watermark(w, &mut out).unwrap(),
                Message::Barrier(b) => {
                    let mut snap = OperatorSnapshot::default();
                    op.snapshot(b.checkpoint_id, &mut snap).unwrap();
                    op = restored_copy(f, snap);
                }
                _ => {}
            }
            emitted.extend(out.drain().filter(|m| matches!(m, Message::Data(_))));
        }
        kinds_and_rows(&emitted)
    }

    use RowKind::{Delete as D, Insert as I, UpdateAfter as UA, UpdateBefore as UB};

    #[test]
    fn inner_join_keeps_the_input_kinds_and_multiplicities() {
        let f = factory(JoinKind::Inner, false);
        let out = run(
            &f,
            vec![
                rows(&f, 0, &[(I, Some(1), 10), (I, Some(1), 10), (I, None, 5)]),
                rows(&f, 1, &[(I, Some(1), 20), (I, None, 6), (I, Some(2), 1)]),
                rows(&f, 0, &[(UB, Some(1), 10), (UA, Some(1), 11)]),
            ],
        );
        assert_eq!(
            out,
            vec![
                "+I 1,10,1,20",
                "+I 1,10,1,20",
                "-U 1,10,1,20",
                "+U 1,11,1,20",
            ]
        );
    }

    #[test]
    fn left_join_retracts_its_padding_when_a_match_comes_and_restores_it_when_it_goes() {
        let f = factory(JoinKind::Left, false);
        let out = run(
            &f,
            vec![
                rows(&f, 0, &[(I, Some(1), 10), (I, None, 3)]),
                rows(&f, 1, &[(I, Some(1), 20), (I, Some(1), 21)]),
                rows(&f, 1, &[(D, Some(1), 20)]),
                rows(&f, 1, &[(D, Some(1), 21)]),
                rows(&f, 0, &[(D, Some(1), 10)]),
            ],
        );
        assert_eq!(
            out,
            vec![
                "+I 1,10,null,null",
                "+I null,3,null,null",
                "-D 1,10,null,null",
                "+I 1,10,1,20",
                "+I 1,10,1,21",
                "-D 1,10,1,20",
                "-D 1,10,1,21",
                "+I 1,10,null,null",
                "-D 1,10,null,null",
            ]
        );
    }

    #[test]
    fn full_join_with_a_residual_condition_pads_both_sides() {
        let f = factory(JoinKind::Full, true);
        let out = run(
            &f,
            vec![
                rows(&f, 0, &[(I, Some(1), 10)]),
                // 5 < 10 fails the condition: both stay padded.
                rows(&f, 1, &[(I, Some(1), 5)]),
                rows(&f, 1, &[(I, Some(1), 30)]),
                rows(&f, 0, &[(UB, Some(1), 10), (UA, Some(1), 40)]),
            ],
        );
        assert_eq!(
            out,
            vec![
                "+I 1,10,null,null",
                "+I null,null,1,5",
                "-D 1,10,null,null",
                "+I 1,10,1,30",
                "-D 1,10,1,30",
                "+I null,null,1,30",
                "+I 1,40,null,null",
            ]
        );
    }

    #[test]
    fn right_join_mirrors_left() {
        let f = factory(JoinKind::Right, false);
        let out = run(
            &f,
            vec![
                rows(&f, 1, &[(I, Some(2), 7)]),
                rows(&f, 0, &[(I, Some(2), 1), (I, Some(3), 1)]),
            ],
        );
        assert_eq!(
            out,
            vec!["+I null,null,2,7", "-D null,null,2,7", "+I 2,1,2,7"]
        );
    }

    /// Right (1, 10); left (1, 5), (2, 6); right (2, 7); right -(1, 10); left -(2, 6).
    fn semi_anti_input(f: &JoinFactory) -> Vec<(usize, Message)> {
        vec![
            rows(f, 1, &[(I, Some(1), 10)]),
            rows(f, 0, &[(I, Some(1), 5), (I, Some(2), 6), (I, None, 8)]),
            rows(f, 1, &[(I, Some(2), 7)]),
            rows(f, 1, &[(D, Some(1), 10)]),
            rows(f, 0, &[(D, Some(2), 6)]),
        ]
    }

    #[test]
    fn a_semi_join_shows_left_rows_while_they_have_a_match() {
        let f = factory(JoinKind::Semi, false);
        let out = run(&f, semi_anti_input(&f));
        assert_eq!(
            out,
            vec![
                "+I 1,5,null,null",
                "+I 2,6,null,null",
                "-D 1,5,null,null",
                "-D 2,6,null,null"
            ]
        );
    }

    #[test]
    fn an_anti_join_shows_left_rows_while_they_have_none() {
        let f = factory(JoinKind::Anti, false);
        let out = run(&f, semi_anti_input(&f));
        // A null key matches nothing, so its row is always shown.
        assert_eq!(
            out,
            vec![
                "+I 2,6,null,null",
                "+I null,8,null,null",
                "-D 2,6,null,null",
                "+I 1,5,null,null"
            ]
        );
        // A residual condition decides what a match is; a restored join
        // goes on with the counts.
        let f = factory(JoinKind::Anti, true);
        let mut input = semi_anti_input(&f);
        input.insert(
            2,
            (
                0,
                Message::Barrier(CheckpointBarrier {
                    checkpoint_id: 1,
                    timestamp_ms: 0,
                    is_savepoint: false,
                    stop: false,
                }),
            ),
        );
        let out = run(&f, input);
        // a < b: (1, 5) matches (1, 10); (2, 6) matches (2, 7).
        assert_eq!(
            out,
            vec![
                "+I 2,6,null,null",
                "+I null,8,null,null",
                "-D 2,6,null,null",
                "+I 1,5,null,null"
            ]
        );
    }

    #[test]
    fn a_join_without_keys_matches_every_pair_in_bounded_batches() {
        let mut f = factory(JoinKind::Inner, true);
        f.left_keys.clear();
        f.right_keys.clear();
        let left: Vec<_> = (0..100).map(|i| (I, Some(i), i)).collect();
        let right: Vec<_> = (0..100).map(|i| (I, None, i)).collect();
        let mut op = f.create(&task()).unwrap();
        let mut out = Output::default();
        for (input, m) in [rows(&f, 0, &left), rows(&f, 1, &right)] {
            let Message::Data(c) = m else { unreachable!() };
            op.process(input, c, &mut out).unwrap();
        }
        let chunks: Vec<_> = out.drain().collect();
        // a < b: 99 + 98 + ... + 0 pairs; null keys do not matter without keys.
        let n: usize = chunks
            .iter()
            .map(|m| match m {
                Message::Data(c) => c.num_rows(),
                _ => 0,
            })
            .sum();
        assert_eq!(n, 4950);
        assert!(chunks.len() >= 2, "{} chunks", chunks.len());
    }

    #[test]
    fn a_restored_join_goes_on_as_if_nothing_happened() {
        let barrier = (
            0,
            Message::Barrier(CheckpointBarrier {
                checkpoint_id: 1,
                timestamp_ms: 0,
                is_savepoint: false,
                stop: false,
            }),
        );
        for kind in [
            JoinKind::Inner,
            JoinKind::Left,
            JoinKind::Right,
            JoinKind::Full,
        ] {
            let f = factory(kind, true);
            let input = vec![
                rows(
                    &f,
                    0,
                    &[(I, Some(1), 10), (I, Some(2), 1), (I, Some(1), 10)],
                ),
                rows(&f, 1, &[(I, Some(1), 20), (I, Some(2), 0)]),
                rows(&f, 0, &[(D, Some(1), 10)]),
                rows(&f, 1, &[(I, Some(2), 9), (D, Some(1), 20)]),
                rows(&f, 0, &[(D, Some(1), 10), (D, Some(2), 1)]),
            ];
            let plain = run(&f, input.clone());
            for cut in 0..=input.len() {
                let mut with = input.clone();
                with.insert(cut, barrier.clone());
                assert_eq!(run(&f, with), plain, "{kind:?}, barrier at {cut}");
            }
        }
    }

    #[test]
    fn each_side_forgets_rows_one_ttl_after_their_last_write() {
        use RowKind::Insert as I;
        use std::sync::atomic::{AtomicI64, Ordering};
        let clock = Arc::new(AtomicI64::new(0));
        // The left side keeps rows 1 s, the right side for ever; a LEFT join,
        // so a left row's match count is written when a right row matches it.
        let f = JoinFactory {
            ttl: [StateTtl::from_ms(1_000), None],
            ..factory(JoinKind::Left, false)
        };
        let mut op = f.build(&task(), Clock::Manual(Arc::clone(&clock))).unwrap();
        let mut out = Output::default();
        let mut feed = |op: &mut Join, at: i64, m: (usize, Message)| {
            clock.store(at, Ordering::SeqCst);
            let (i, Message::Data(c)) = m else {
                unreachable!()
            };
            op.process(i, c, &mut out).unwrap();
            kinds_and_rows(&out.drain().collect::<Vec<_>>())
        };
        assert_eq!(
            feed(
                &mut op,
                0,
                rows(&f, 0, &[(I, Some(1), 10), (I, Some(2), 20)])
            ),
            vec!["+I 1,10,null,null", "+I 2,20,null,null"]
        );
        // Key 1's left row is matched at 900 ms: a write, so it lives to 1 900.
        assert_eq!(
            feed(&mut op, 900, rows(&f, 1, &[(I, Some(1), 11)])),
            vec!["-D 1,10,null,null", "+I 1,10,1,11"]
        );
        // At 1 500 key 2's left row (written at 0) is gone; key 1's is not.
        assert_eq!(
            feed(
                &mut op,
                1_500,
                rows(&f, 1, &[(I, Some(1), 12), (I, Some(2), 21)])
            ),
            vec!["+I 1,10,1,12"]
        );
        // The right side never expires: a new left row of key 2 finds its row.
        assert_eq!(
            feed(&mut op, 5_000, rows(&f, 0, &[(I, Some(2), 22)])),
            vec!["+I 2,22,2,21"]
        );
        // Key 1's left row expired at 2 500 but waits for a sweep.
        assert_eq!(op.sides[0].state.len(), 2);
        // A snapshot one TTL later holds the right side's two keys only.
        clock.store(6_000, Ordering::SeqCst);
        assert_eq!(
            crate::operators::aggregate::tests::snapshot_entries(&f, &mut op),
            2
        );
        assert_eq!(op.sides[0].state.len(), 0);
        assert!(f.explain().contains("stateTtl=[left=1000 ms, right=none]"));
    }

    #[test]
    fn an_append_only_side_keeps_equal_rows_apart_with_the_same_output() {
        use RowKind::Insert as I;
        for kind in [
            JoinKind::Inner,
            JoinKind::Left,
            JoinKind::Right,
            JoinKind::Full,
        ] {
            let counted = factory(kind, false);
            let appended = JoinFactory {
                appends_only: [true, true],
                ..factory(kind, false)
            };
            let input = |f: &JoinFactory| {
                vec![
                    rows(f, 0, &[(I, Some(1), 10), (I, Some(1), 10), (I, Some(2), 5)]),
                    rows(f, 1, &[(I, Some(1), 20), (I, Some(1), 20)]),
                    rows(f, 0, &[(I, Some(1), 10)]),
                    rows(f, 1, &[(I, Some(3), 7)]),
                ]
            };
            let mut want = run(&counted, input(&counted));
            let mut got = run(&appended, input(&appended));
            want.sort();
            got.sort();
            assert_eq!(got, want, "{kind:?}");
        }
        // Kept apart: three entries for key 1 where counting keeps one.
        let f = JoinFactory {
            appends_only: [true, false],
            ..factory(JoinKind::Inner, false)
        };
        let mut op = f.build(&task(), Clock::System).unwrap();
        let mut out = Output::default();
        let (i, m) = rows(
            &f,
            0,
            &[(I, Some(1), 10), (I, Some(1), 10), (I, Some(1), 10)],
        );
        if let Message::Data(c) = m {
            op.process(i, c, &mut out).unwrap();
        }
        let held: usize = op.sides[0].state.iter().map(|(_, _, v)| v.len()).sum();
        assert_eq!(held, 3);
    }

    #[test]
    fn a_side_whose_join_key_is_unique_keeps_one_row_per_key() {
        use RowKind::{Delete as D, Insert as I};
        let f = JoinFactory {
            input_specs: [InputSpec::NoUniqueKey, InputSpec::JoinKeyContainsUniqueKey],
            ..factory(JoinKind::Inner, false)
        };
        let out = run(
            &f,
            vec![
                rows(&f, 1, &[(I, Some(1), 10)]),
                // A new row of the key replaces the old one.
                rows(&f, 1, &[(I, Some(1), 11)]),
                rows(&f, 0, &[(I, Some(1), 1)]),
                barrier(),
                // A retraction clears the key.
                rows(&f, 1, &[(D, Some(1), 11)]),
                rows(&f, 0, &[(I, Some(1), 2)]),
            ],
        );
        assert_eq!(out, vec!["+I 1,1,1,11", "-D 1,1,1,11"]);
        assert!(
            f.explain()
                .contains("rightInputSpec=[JoinKeyContainsUniqueKey]")
        );
    }
}
