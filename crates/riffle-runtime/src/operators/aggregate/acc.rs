//! Accumulators: the per-key state of one aggregate call.
//!
//! Each call (`COUNT(DISTINCT bidder) FILTER (WHERE price < 10000)`) is bound
//! once to the input schema ([`BoundAggs`]); per batch its argument and filter
//! are evaluated vectorized, then each row is folded into the key's [`Acc`]
//! with a sign: `+1` for `+I`/`+U`, `-1` for `-U`/`-D`. Every accumulator can
//! retract, which is what aggregation over an updating input needs:
//! sums and counts subtract, MIN/MAX over an updating input keep a multiset of
//! values (an append-only input keeps just the extreme), DISTINCT keeps a
//! count per value.
//!
//! Results follow Flink's types and arithmetic: `AVG` of an integer column is
//! an integer (the sum divided by the count, truncated), `AVG` of a decimal
//! rounds half-up to scale `max(6, s)`, integer sums wrap like Java's `long`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int64Array, RecordBatch,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion_common::ScalarValue;
use datafusion_physical_expr::PhysicalExpr;

use crate::checkpoint::{Decoder, Encoder, codec::type_text};
use crate::{Error, Result};

/// The aggregate functions the runtime computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunction {
    /// `COUNT(*)` (no argument) or `COUNT(x)` (non-null values).
    Count,
    /// `SUM(x)`.
    Sum,
    /// `AVG(x)`.
    Avg,
    /// `MIN(x)`.
    Min,
    /// `MAX(x)`.
    Max,
}

impl AggFunction {
    /// The SQL name.
    pub fn sql_name(self) -> &'static str {
        match self {
            AggFunction::Count => "COUNT",
            AggFunction::Sum => "SUM",
            AggFunction::Avg => "AVG",
            AggFunction::Min => "MIN",
            AggFunction::Max => "MAX",
        }
    }
}

/// One aggregate call as planned.
#[derive(Debug, Clone)]
pub struct AggCall {
    /// The function.
    pub function: AggFunction,
    /// The argument; `None` for `COUNT(*)`.
    pub arg: Option<Arc<dyn PhysicalExpr>>,
    /// `FILTER (WHERE ...)`: rows where this is not true are skipped.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// `DISTINCT`: each value counts once.
    pub distinct: bool,
    /// The result type (the planner's, i.e. Flink's).
    pub output_type: DataType,
}

impl std::fmt::Display for AggCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let arg = match &self.arg {
            None => "*".to_string(),
            Some(a) => a.to_string(),
        };
        let distinct = if self.distinct { "DISTINCT " } else { "" };
        write!(f, "{}({distinct}{arg})", self.function.sql_name())?;
        if let Some(p) = &self.filter {
            write!(f, " FILTER (WHERE {p})")?;
        }
        Ok(())
    }
}

/// The arithmetic an argument is folded with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Domain {
    Int,
    Float,
    Decimal {
        scale: i8,
    },
    /// Compared or hashed only (MIN/MAX of strings, timestamps, ...).
    Other,
}

/// A call bound to its input schema.
#[derive(Debug)]
struct BoundAgg {
    call: AggCall,
    domain: Domain,
    arg_type: DataType,
    /// The type [`BoundAggs::value`] produces before the final cast.
    natural_type: DataType,
    /// MIN/MAX must be able to retract (the input is updating).
    retracting: bool,
}

/// The evaluated inputs of one call for one batch.
#[derive(Debug)]
pub(crate) struct AggInput {
    arg: Arg,
    filter: Option<BooleanArray>,
}

#[derive(Debug)]
enum Arg {
    Star,
    Int(Int64Array),
    Float(Float64Array),
    Dec(Decimal128Array),
    Any(ArrayRef),
}

impl Arg {
    fn is_null(&self, row: usize) -> bool {
        match self {
            Arg::Star => false,
            Arg::Int(a) => a.is_null(row),
            Arg::Float(a) => a.is_null(row),
            Arg::Dec(a) => a.is_null(row),
            Arg::Any(a) => a.is_null(row),
        }
    }

    fn len(&self) -> usize {
        match self {
            Arg::Star => 0,
            Arg::Int(a) => a.len(),
            Arg::Float(a) => a.len(),
            Arg::Dec(a) => a.len(),
            Arg::Any(a) => a.len(),
        }
    }
}

/// A scalar with a total order, for the multiset of retractable MIN/MAX.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Ordered(ScalarValue);

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .partial_cmp(&other.0)
            .unwrap_or(std::cmp::Ordering::Equal)
    }
}

/// The state of one call for one key (or window).
#[derive(Debug, Clone)]
pub(crate) enum Acc {
    /// A count.
    Count(i64),
    /// Integer sum and number of values.
    Int { sum: i64, n: i64 },
    /// Floating sum and number of values.
    Float { sum: f64, n: i64 },
    /// Unscaled decimal sum and number of values.
    Dec { sum: i128, n: i64 },
    /// The current extreme of an append-only input.
    Extreme(Option<ScalarValue>),
    /// Value → multiplicity (retractable MIN/MAX).
    Multiset(BTreeMap<Ordered, i64>),
    /// The DISTINCT values of one argument, shared by every DISTINCT call
    /// over it (held by the first such call).
    Shared(SharedDistinct),
    /// A DISTINCT call whose values live in its group's [`Acc::Shared`].
    Member,
}

/// Value → multiplicity per call of a distinct group, and per call the
/// number of values whose multiplicity is positive (the `COUNT(DISTINCT)`).
///
/// `COUNT(DISTINCT bidder) FILTER (WHERE a)`, `... FILTER (WHERE b)` share one
/// map, so each row costs one hash lookup per argument rather than per call
/// (Flink keeps one map view per argument the same way).
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedDistinct {
    map: HashMap<ScalarValue, Box<[i64]>>,
    distinct: Vec<i64>,
}

impl SharedDistinct {
    fn new(calls: usize) -> Self {
        SharedDistinct {
            map: HashMap::new(),
            distinct: vec![0; calls],
        }
    }

    /// Adds `deltas[p]` to the multiplicity of `key` for every call `p`.
    fn add(&mut self, key: ScalarValue, deltas: &[i64]) {
        if !self.map.contains_key(&key) {
            if deltas.iter().all(|d| *d <= 0) {
                return;
            }
            self.map
                .insert(key.clone(), vec![0; deltas.len()].into_boxed_slice());
        }
        let SharedDistinct { map, distinct } = self;
        let Some(counts) = map.get_mut(&key) else {
            return;
        };
        for (p, d) in deltas.iter().enumerate() {
            if *d == 0 {
                continue;
            }
            let old = counts[p];
            counts[p] = old + d;
            if old <= 0 && counts[p] > 0 {
                distinct[p] += 1;
            } else if old > 0 && counts[p] <= 0 {
                distinct[p] -= 1;
            }
        }
        if counts.iter().all(|c| *c <= 0) {
            map.remove(&key);
        }
    }
}

/// All calls of one aggregate operator, bound to its input.
#[derive(Debug)]
pub(crate) struct BoundAggs {
    aggs: Vec<BoundAgg>,
    /// DISTINCT calls grouped by argument; the first call holds the state.
    groups: Vec<Vec<usize>>,
    /// For each DISTINCT call: (group, position in the group).
    member_of: Vec<Option<(usize, usize)>>,
}

fn domain_of(t: &DataType) -> Domain {
    match t {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => Domain::Int,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => Domain::Float,
        DataType::Decimal128(_, s) => Domain::Decimal { scale: *s },
        _ => Domain::Other,
    }
}

/// The scale of `AVG` over `DECIMAL(p, s)`: Flink's `max(6, s)`.
pub fn avg_decimal_scale(s: i8) -> i8 {
    s.max(6)
}

impl BoundAggs {
    /// Binds calls to an input schema. `retracting` says whether the input
    /// carries retractions.
    pub fn bind(calls: &[AggCall], input: &SchemaRef, retracting: bool) -> Result<Self> {
        let mut aggs = Vec::with_capacity(calls.len());
        for call in calls {
            let arg_type = match &call.arg {
                None => DataType::Int64,
                Some(a) => a.data_type(input)?,
            };
            let domain = domain_of(&arg_type);
            let natural_type = match (call.function, domain) {
                (AggFunction::Count, _) => DataType::Int64,
                (AggFunction::Sum | AggFunction::Avg, Domain::Int) => DataType::Int64,
                (AggFunction::Sum | AggFunction::Avg, Domain::Float) => DataType::Float64,
                (AggFunction::Sum, Domain::Decimal { scale }) => DataType::Decimal128(38, scale),
                (AggFunction::Avg, Domain::Decimal { scale }) => {
                    DataType::Decimal128(38, avg_decimal_scale(scale))
                }
                (AggFunction::Sum | AggFunction::Avg, Domain::Other) => {
                    return Err(Error::User(format!(
                        "{} does not accept an argument of type {arg_type}",
                        call.function.sql_name()
                    )));
                }
                (AggFunction::Min | AggFunction::Max, _) => arg_type.clone(),
            };
            aggs.push(BoundAgg {
                call: call.clone(),
                domain,
                arg_type,
                natural_type,
                retracting,
            });
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_keys: Vec<(String, DataType)> = Vec::new();
        let mut member_of = vec![None; aggs.len()];
        for (i, a) in aggs.iter().enumerate() {
            if !a.call.distinct {
                continue;
            }
            let key = (
                a.call
                    .arg
                    .as_ref()
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
                a.arg_type.clone(),
            );
            let g = match group_keys.iter().position(|k| *k == key) {
                Some(g) => g,
                None => {
                    group_keys.push(key);
                    groups.push(Vec::new());
                    groups.len() - 1
                }
            };
            member_of[i] = Some((g, groups[g].len()));
            groups[g].push(i);
        }
        Ok(BoundAggs {
            aggs,
            groups,
            member_of,
        })
    }

    /// Fresh accumulators for a new key.
    pub fn new_accs(&self) -> Vec<Acc> {
        self.aggs
            .iter()
            .enumerate()
            .map(|(i, a)| match self.member_of[i] {
                Some((g, 0)) => Acc::Shared(SharedDistinct::new(self.groups[g].len())),
                Some(_) => Acc::Member,
                None => a.new_acc(),
            })
            .collect()
    }

    /// Evaluates every call's argument and filter over a batch.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<Vec<AggInput>> {
        self.aggs.iter().map(|a| a.evaluate(batch)).collect()
    }

    /// Folds row `row` into `accs` with sign `+1` or `-1`.
    pub fn update(&self, accs: &mut [Acc], inputs: &[AggInput], row: usize, sign: i64) {
        for ((agg, acc), input) in self.aggs.iter().zip(accs.iter_mut()).zip(inputs) {
            if !agg.call.distinct {
                agg.update(acc, input, row, sign);
            }
        }
        let mut deltas = [0i64; 16];
        for members in &self.groups {
            let leader = members[0];
            let Some(Arg::Any(arr)) = inputs.get(leader).map(|i| &i.arg) else {
                continue;
            };
            if arr.is_null(row) {
                continue;
            }
            let mut any = false;
            let mut big = Vec::new();
            let deltas: &mut [i64] = if members.len() <= deltas.len() {
                &mut deltas[..members.len()]
            } else {
                big.resize(members.len(), 0);
                &mut big
            };
            for (p, m) in members.iter().enumerate() {
                let pass = match inputs.get(*m).and_then(|i| i.filter.as_ref()) {
                    None => true,
                    Some(f) => f.is_valid(row) && f.value(row),
                };
                deltas[p] = if pass { sign } else { 0 };
                any |= pass;
            }
            if !any {
                continue;
            }
            let key = match arr.as_any().downcast_ref::<Int64Array>() {
                Some(ints) => ScalarValue::Int64(Some(ints.value(row))),
                None => match ScalarValue::try_from_array(arr, row) {
                    Ok(v) => v,
                    Err(_) => continue,
                },
            };
            if let Some(Acc::Shared(shared)) = accs.get_mut(leader) {
                shared.add(key, deltas);
            }
        }
    }

    /// Folds `other` into `accs` (merging session windows).
    pub fn merge(&self, accs: &mut [Acc], other: Vec<Acc>) {
        for ((agg, acc), o) in self.aggs.iter().zip(accs.iter_mut()).zip(other) {
            match (acc, o) {
                (Acc::Shared(mine), Acc::Shared(theirs)) => {
                    for (k, counts) in theirs.map {
                        mine.add(k, &counts);
                    }
                }
                (acc, o) => agg.merge(acc, o),
            }
        }
    }

    /// The current results, in each call's natural type.
    pub fn values(&self, accs: &[Acc]) -> Result<Vec<ScalarValue>> {
        let mut out = Vec::with_capacity(self.aggs.len());
        for (i, (agg, acc)) in self.aggs.iter().zip(accs).enumerate() {
            out.push(match self.member_of[i] {
                None => agg.value(acc)?,
                Some((g, p)) => {
                    let leader = self.groups[g][0];
                    let Some(Acc::Shared(shared)) = accs.get(leader) else {
                        return Err(Error::Internal("distinct state missing".into()));
                    };
                    if agg.call.function == AggFunction::Count {
                        ScalarValue::Int64(Some(shared.distinct[p]))
                    } else {
                        agg.distinct_value(
                            shared
                                .map
                                .iter()
                                .filter(|(_, c)| c[p] > 0)
                                .map(|(k, _)| k.clone())
                                .collect(),
                        )?
                    }
                }
            });
        }
        Ok(out)
    }

    /// Builds the result columns from rows of [`BoundAggs::values`], cast to
    /// each call's output type.
    pub fn columns(&self, rows: &[Vec<ScalarValue>]) -> Result<Vec<ArrayRef>> {
        let mut cols = Vec::with_capacity(self.aggs.len());
        for (i, agg) in self.aggs.iter().enumerate() {
            let values = rows.iter().map(|r| {
                r.get(i)
                    .cloned()
                    .unwrap_or_else(|| null_of(&agg.natural_type))
            });
            let arr = if rows.is_empty() {
                arrow::array::new_empty_array(&agg.natural_type)
            } else {
                ScalarValue::iter_to_array(values)?
            };
            cols.push(if arr.data_type() == &agg.call.output_type {
                arr
            } else {
                cast(&arr, &agg.call.output_type)?
            });
        }
        Ok(cols)
    }
}

fn null_of(t: &DataType) -> ScalarValue {
    ScalarValue::try_from(t).unwrap_or(ScalarValue::Null)
}

fn downcast<T: Clone + 'static>(arr: &ArrayRef) -> Result<T> {
    arr.as_any()
        .downcast_ref::<T>()
        .cloned()
        .ok_or_else(|| Error::Internal(format!("unexpected array type {}", arr.data_type())))
}

impl BoundAgg {
    fn new_acc(&self) -> Acc {
        match (self.call.function, self.domain) {
            (AggFunction::Count, _) => Acc::Count(0),
            (AggFunction::Min | AggFunction::Max, _) if self.retracting => {
                Acc::Multiset(BTreeMap::new())
            }
            (AggFunction::Min | AggFunction::Max, _) => Acc::Extreme(None),
            (_, Domain::Int) => Acc::Int { sum: 0, n: 0 },
            (_, Domain::Float) => Acc::Float { sum: 0.0, n: 0 },
            (_, Domain::Decimal { .. }) => Acc::Dec { sum: 0, n: 0 },
            (_, Domain::Other) => Acc::Extreme(None),
        }
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<AggInput> {
        let n = batch.num_rows();
        let filter = match &self.call.filter {
            None => None,
            Some(f) => Some(downcast::<BooleanArray>(
                &f.evaluate(batch)?.into_array(n)?,
            )?),
        };
        let arg = match &self.call.arg {
            None => Arg::Star,
            Some(e) => {
                let arr = e.evaluate(batch)?.into_array(n)?;
                // Only SUM and AVG do arithmetic; COUNT needs just the NULLs,
                // MIN/MAX and DISTINCT compare values in their own type.
                let numeric = !self.call.distinct
                    && matches!(self.call.function, AggFunction::Sum | AggFunction::Avg);
                match self.domain {
                    Domain::Int if numeric => {
                        Arg::Int(downcast::<Int64Array>(&cast(&arr, &DataType::Int64)?)?)
                    }
                    Domain::Float if numeric => {
                        Arg::Float(downcast::<Float64Array>(&cast(&arr, &DataType::Float64)?)?)
                    }
                    Domain::Decimal { .. } if numeric => {
                        Arg::Dec(downcast::<Decimal128Array>(&arr)?)
                    }
                    _ => Arg::Any(arr),
                }
            }
        };
        Ok(AggInput { arg, filter })
    }

    fn update(&self, acc: &mut Acc, input: &AggInput, row: usize, sign: i64) {
        if let Some(f) = &input.filter
            && !(f.is_valid(row) && f.value(row))
        {
            return;
        }
        if input.arg.is_null(row) {
            return;
        }
        match (&input.arg, acc) {
            // COUNT(*) counts every row, COUNT(x) every non-NULL x.
            (_, Acc::Count(c)) => *c += sign,
            (Arg::Int(a), Acc::Int { sum, n }) => {
                *sum = sum.wrapping_add(a.value(row).wrapping_mul(sign));
                *n += sign;
            }
            (Arg::Float(a), Acc::Float { sum, n }) => {
                *sum += a.value(row) * sign as f64;
                *n += sign;
            }
            (Arg::Dec(a), Acc::Dec { sum, n }) => {
                *sum = sum.wrapping_add(a.value(row).wrapping_mul(sign as i128));
                *n += sign;
            }
            (Arg::Any(a), acc @ (Acc::Multiset(_) | Acc::Extreme(_))) => {
                let Ok(v) = ScalarValue::try_from_array(a, row) else {
                    return;
                };
                match acc {
                    Acc::Multiset(m) => m.add(Ordered(v), sign),
                    Acc::Extreme(cur) if sign > 0 && self.beats(&v, cur.as_ref()) => {
                        *cur = Some(v);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Whether `v` replaces the current extreme.
    fn beats(&self, v: &ScalarValue, cur: Option<&ScalarValue>) -> bool {
        match cur {
            None => true,
            Some(c) => match self.call.function {
                AggFunction::Max => v.partial_cmp(c) == Some(std::cmp::Ordering::Greater),
                _ => v.partial_cmp(c) == Some(std::cmp::Ordering::Less),
            },
        }
    }

    fn merge(&self, acc: &mut Acc, other: Acc) {
        match (acc, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::Int { sum, n }, Acc::Int { sum: s2, n: n2 }) => {
                *sum = sum.wrapping_add(s2);
                *n += n2;
            }
            (Acc::Float { sum, n }, Acc::Float { sum: s2, n: n2 }) => {
                *sum += s2;
                *n += n2;
            }
            (Acc::Dec { sum, n }, Acc::Dec { sum: s2, n: n2 }) => {
                *sum = sum.wrapping_add(s2);
                *n += n2;
            }
            (Acc::Extreme(cur), Acc::Extreme(Some(v))) if self.beats(&v, cur.as_ref()) => {
                *cur = Some(v);
            }
            (Acc::Multiset(m), Acc::Multiset(o)) => {
                for (k, c) in o {
                    m.add(k, c);
                }
            }
            _ => {}
        }
    }

    fn value(&self, acc: &Acc) -> Result<ScalarValue> {
        let f = self.call.function;
        Ok(match acc {
            Acc::Count(c) => ScalarValue::Int64(Some(*c)),
            Acc::Int { sum, n } => match (f, *n) {
                (_, 0) => ScalarValue::Int64(None),
                (AggFunction::Avg, n) => ScalarValue::Int64(Some(sum.wrapping_div(n))),
                _ => ScalarValue::Int64(Some(*sum)),
            },
            Acc::Float { sum, n } => match (f, *n) {
                (_, 0) => ScalarValue::Float64(None),
                (AggFunction::Avg, n) => ScalarValue::Float64(Some(sum / n as f64)),
                _ => ScalarValue::Float64(Some(*sum)),
            },
            Acc::Dec { sum, n } => {
                let Domain::Decimal { scale } = self.domain else {
                    return Err(Error::Internal("decimal state without decimal type".into()));
                };
                match (f, *n) {
                    (AggFunction::Avg, 0) => {
                        ScalarValue::Decimal128(None, 38, avg_decimal_scale(scale))
                    }
                    (_, 0) => ScalarValue::Decimal128(None, 38, scale),
                    (AggFunction::Avg, n) => {
                        let rs = avg_decimal_scale(scale);
                        let scaled = 10i128
                            .checked_pow((rs - scale) as u32)
                            .and_then(|f| sum.checked_mul(f))
                            .ok_or_else(|| {
                                Error::User(format!(
                                    "AVG overflows DECIMAL(38, {rs}) (sum {sum} at scale {scale})"
                                ))
                            })?;
                        ScalarValue::Decimal128(Some(div_half_up(scaled, n as i128)), 38, rs)
                    }
                    _ => ScalarValue::Decimal128(Some(*sum), 38, scale),
                }
            }
            Acc::Extreme(v) => v.clone().unwrap_or_else(|| null_of(&self.natural_type)),
            Acc::Multiset(m) => {
                let v = match f {
                    AggFunction::Max => m.keys().next_back(),
                    _ => m.keys().next(),
                };
                v.map(|o| o.0.clone())
                    .unwrap_or_else(|| null_of(&self.natural_type))
            }
            Acc::Shared(_) | Acc::Member => {
                return Err(Error::Internal(
                    "distinct state read without its group".into(),
                ));
            }
        })
    }

    /// Folds the distinct values into a plain accumulator and reads it.
    fn distinct_value(&self, values: Vec<ScalarValue>) -> Result<ScalarValue> {
        if self.call.function == AggFunction::Count {
            return Ok(ScalarValue::Int64(Some(values.len() as i64)));
        }
        let plain = BoundAgg {
            call: AggCall {
                distinct: false,
                ..self.call.clone()
            },
            domain: self.domain,
            arg_type: self.arg_type.clone(),
            natural_type: self.natural_type.clone(),
            retracting: false,
        };
        let mut acc = plain.new_acc();
        if values.is_empty() {
            return plain.value(&acc);
        }
        let arr = ScalarValue::iter_to_array(values)?;
        let batch_arg = match (plain.domain, plain.call.function) {
            (_, AggFunction::Min | AggFunction::Max) | (Domain::Other, _) => Arg::Any(arr),
            (Domain::Int, _) => Arg::Int(downcast(&cast(&arr, &DataType::Int64)?)?),
            (Domain::Float, _) => Arg::Float(downcast(&cast(&arr, &DataType::Float64)?)?),
            (Domain::Decimal { .. }, _) => Arg::Dec(downcast(&arr)?),
        };
        let input = AggInput {
            arg: batch_arg,
            filter: None,
        };
        for row in 0..input.arg.len() {
            plain.update(&mut acc, &input, row, 1);
        }
        plain.value(&acc)
    }
}

/// Maps that count values and forget those whose count drops to zero.
trait Multiplicity<K> {
    fn add(&mut self, k: K, c: i64);
}

impl<K: std::hash::Hash + Eq> Multiplicity<K> for HashMap<K, i64> {
    fn add(&mut self, k: K, c: i64) {
        match self.get_mut(&k) {
            Some(e) => {
                *e += c;
                if *e <= 0 {
                    self.remove(&k);
                }
            }
            None if c > 0 => {
                self.insert(k, c);
            }
            None => {}
        }
    }
}

impl<K: Ord> Multiplicity<K> for BTreeMap<K, i64> {
    fn add(&mut self, k: K, c: i64) {
        match self.get_mut(&k) {
            Some(e) => {
                *e += c;
                if *e <= 0 {
                    self.remove(&k);
                }
            }
            None if c > 0 => {
                self.insert(k, c);
            }
            None => {}
        }
    }
}

/// `a / b` rounded half away from zero (Java's `RoundingMode.HALF_UP`).
fn div_half_up(a: i128, b: i128) -> i128 {
    if b == 0 {
        return 0;
    }
    let q = a / b;
    let r = a % b;
    if 2 * r.abs() >= b.abs() {
        if (a < 0) != (b < 0) { q - 1 } else { q + 1 }
    } else {
        q
    }
}

/// Names the shape of the accumulators of `calls` (for state descriptors):
/// a restore refuses state written for other calls.
pub(crate) fn accs_descriptor(
    calls: &[AggCall],
    input: &SchemaRef,
    retracting: bool,
) -> Result<String> {
    let mut parts = Vec::with_capacity(calls.len());
    for c in calls {
        let arg = match &c.arg {
            None => "*".to_string(),
            Some(a) => type_text(&a.data_type(input)?),
        };
        let distinct = if c.distinct { "DISTINCT " } else { "" };
        let filter = if c.filter.is_some() { " FILTER" } else { "" };
        parts.push(format!(
            "{}({distinct}{arg}){filter}",
            c.function.sql_name()
        ));
    }
    let mode = if retracting { "retracting" } else { "append" };
    Ok(format!("{} {mode}", parts.join(", ")))
}

/// Writes a key's accumulators.
pub(crate) fn encode_accs(accs: &[Acc], e: &mut Encoder) -> Result<()> {
    e.len_prefix(accs.len());
    for acc in accs {
        match acc {
            Acc::Count(c) => {
                e.u8(0);
                e.i64(*c);
            }
            Acc::Int { sum, n } => {
                e.u8(1);
                e.i64(*sum);
                e.i64(*n);
            }
            Acc::Float { sum, n } => {
                e.u8(2);
                e.f64(*sum);
                e.i64(*n);
            }
            Acc::Dec { sum, n } => {
                e.u8(3);
                e.i128(*sum);
                e.i64(*n);
            }
            Acc::Extreme(v) => {
                e.u8(4);
                match v {
                    None => e.u8(0),
                    Some(v) => {
                        e.u8(1);
                        e.scalar(v)?;
                    }
                }
            }
            Acc::Multiset(m) => {
                e.u8(5);
                e.len_prefix(m.len());
                for (v, c) in m {
                    e.scalar(&v.0)?;
                    e.i64(*c);
                }
            }
            Acc::Shared(shared) => {
                e.u8(6);
                e.len_prefix(shared.distinct.len());
                for d in &shared.distinct {
                    e.i64(*d);
                }
                e.len_prefix(shared.map.len());
                for (v, counts) in &shared.map {
                    e.scalar(v)?;
                    for c in counts.iter() {
                        e.i64(*c);
                    }
                }
            }
            Acc::Member => e.u8(7),
        }
    }
    Ok(())
}

/// Reads accumulators written by [`encode_accs`].
pub(crate) fn decode_accs(d: &mut Decoder<'_>) -> Result<Vec<Acc>> {
    let n = d.len_prefix(1)?;
    let mut accs = Vec::with_capacity(n);
    for _ in 0..n {
        accs.push(match d.u8()? {
            0 => Acc::Count(d.i64()?),
            1 => Acc::Int {
                sum: d.i64()?,
                n: d.i64()?,
            },
            2 => Acc::Float {
                sum: d.f64()?,
                n: d.i64()?,
            },
            3 => Acc::Dec {
                sum: d.i128()?,
                n: d.i64()?,
            },
            4 => Acc::Extreme(match d.u8()? {
                0 => None,
                _ => Some(d.scalar()?),
            }),
            5 => {
                let len = d.len_prefix(2)?;
                let mut m = BTreeMap::new();
                for _ in 0..len {
                    let v = d.scalar()?;
                    m.insert(Ordered(v), d.i64()?);
                }
                Acc::Multiset(m)
            }
            6 => {
                let calls = d.len_prefix(8)?;
                let mut distinct = Vec::with_capacity(calls);
                for _ in 0..calls {
                    distinct.push(d.i64()?);
                }
                let len = d.len_prefix(1)?;
                let mut map = HashMap::with_capacity(len);
                for _ in 0..len {
                    let v = d.scalar()?;
                    let mut counts = Vec::with_capacity(calls);
                    for _ in 0..calls {
                        counts.push(d.i64()?);
                    }
                    map.insert(v, counts.into_boxed_slice());
                }
                Acc::Shared(SharedDistinct { map, distinct })
            }
            7 => Acc::Member,
            t => {
                return Err(Error::External(format!(
                    "corrupt state: unknown accumulator tag {t}"
                )));
            }
        });
    }
    Ok(accs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use datafusion_physical_expr::expressions::{Column, col};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int64, true),
            Field::new("d", DataType::Decimal128(10, 2), true),
        ]))
    }

    fn batch(vs: Vec<Option<i64>>, ds: Vec<Option<i128>>) -> RecordBatch {
        let n = vs.len();
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from(vec!["a"; n])),
                Arc::new(Int64Array::from(vs)),
                Arc::new(
                    Decimal128Array::from(ds)
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ],
        )
        .unwrap()
    }

    fn call(f: AggFunction, arg: &str, distinct: bool, out: DataType) -> AggCall {
        AggCall {
            function: f,
            arg: Some(col(arg, &schema()).unwrap()),
            filter: None,
            distinct,
            output_type: out,
        }
    }

    fn run(
        calls: &[AggCall],
        b: &RecordBatch,
        signs: &[i64],
        retracting: bool,
    ) -> Vec<ScalarValue> {
        let aggs = BoundAggs::bind(calls, &schema(), retracting).unwrap();
        let mut accs = aggs.new_accs();
        let inputs = aggs.evaluate(b).unwrap();
        for (row, s) in signs.iter().enumerate() {
            aggs.update(&mut accs, &inputs, row, *s);
        }
        aggs.values(&accs).unwrap()
    }

    #[test]
    fn integer_avg_truncates_like_flink() {
        let b = batch(vec![Some(1), Some(2), Some(2), None], vec![None; 4]);
        let v = run(
            &[call(AggFunction::Avg, "v", false, DataType::Int64)],
            &b,
            &[1, 1, 1, 1],
            false,
        );
        assert_eq!(v, vec![ScalarValue::Int64(Some(1))]);
    }

    #[test]
    fn decimal_avg_rounds_half_up_to_scale_six() {
        let b = batch(vec![None; 3], vec![Some(100), Some(100), Some(101)]);
        let v = run(
            &[call(
                AggFunction::Avg,
                "d",
                false,
                DataType::Decimal128(38, 6),
            )],
            &b,
            &[1, 1, 1],
            false,
        );
        // (1.00 + 1.00 + 1.01) / 3 = 1.003333...
        assert_eq!(v, vec![ScalarValue::Decimal128(Some(1_003_333), 38, 6)]);
        assert_eq!(div_half_up(5, 2), 3);
        assert_eq!(div_half_up(-5, 2), -3);
        assert_eq!(div_half_up(4, 3), 1);
    }

    #[test]
    fn retracting_max_falls_back_to_the_previous_value() {
        let b = batch(vec![Some(5), Some(9), Some(9)], vec![None; 3]);
        let v = run(
            &[call(AggFunction::Max, "v", false, DataType::Int64)],
            &b,
            &[1, 1, -1],
            true,
        );
        assert_eq!(v, vec![ScalarValue::Int64(Some(5))]);
    }

    #[test]
    fn distinct_counts_each_value_once_and_retracts() {
        let b = batch(vec![Some(1), Some(1), Some(2), Some(1)], vec![None; 4]);
        let v = run(
            &[
                call(AggFunction::Count, "v", true, DataType::Int64),
                call(AggFunction::Sum, "v", true, DataType::Int64),
            ],
            &b,
            &[1, 1, 1, -1],
            true,
        );
        assert_eq!(
            v,
            vec![ScalarValue::Int64(Some(2)), ScalarValue::Int64(Some(3))]
        );
    }

    #[test]
    fn filtered_distinct_calls_share_one_map_and_merge() {
        let gt1 = Arc::new(datafusion_physical_expr::expressions::BinaryExpr::new(
            Arc::new(Column::new("v", 1)),
            datafusion_expr::Operator::Gt,
            Arc::new(datafusion_physical_expr::expressions::Literal::new(
                ScalarValue::Int64(Some(1)),
            )),
        ));
        let mut filtered = call(AggFunction::Count, "v", true, DataType::Int64);
        filtered.filter = Some(gt1);
        let calls = [
            call(AggFunction::Count, "v", true, DataType::Int64),
            filtered,
            call(AggFunction::Max, "v", true, DataType::Int64),
        ];
        let aggs = BoundAggs::bind(&calls, &schema(), true).unwrap();
        assert_eq!(aggs.groups, vec![vec![0, 1, 2]]);
        let b = batch(vec![Some(1), Some(2), Some(2), Some(3)], vec![None; 4]);
        let inputs = aggs.evaluate(&b).unwrap();
        let mut left = aggs.new_accs();
        let mut right = aggs.new_accs();
        aggs.update(&mut left, &inputs, 0, 1);
        aggs.update(&mut left, &inputs, 1, 1);
        aggs.update(&mut right, &inputs, 2, 1);
        aggs.update(&mut right, &inputs, 3, 1);
        aggs.update(&mut right, &inputs, 3, -1);
        aggs.merge(&mut left, right);
        assert_eq!(
            aggs.values(&left).unwrap(),
            vec![
                ScalarValue::Int64(Some(2)),
                ScalarValue::Int64(Some(1)),
                ScalarValue::Int64(Some(2)),
            ]
        );
    }

    #[test]
    fn filter_skips_rows_and_empty_sum_is_null() {
        let b = batch(vec![Some(1), Some(20)], vec![None; 2]);
        let filter = Arc::new(datafusion_physical_expr::expressions::BinaryExpr::new(
            Arc::new(Column::new("v", 1)),
            datafusion_expr::Operator::Gt,
            Arc::new(datafusion_physical_expr::expressions::Literal::new(
                ScalarValue::Int64(Some(100)),
            )),
        ));
        let mut c = call(AggFunction::Sum, "v", false, DataType::Int64);
        c.filter = Some(filter);
        let v = run(&[c], &b, &[1, 1], false);
        assert_eq!(v, vec![ScalarValue::Int64(None)]);
    }
}
