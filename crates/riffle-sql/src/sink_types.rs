//! Type checks Flink makes at planning time, so that the job fails to
//! submit instead of failing on every row (and, with checkpointing,
//! restarting forever).
//!
//! **INSERT.** Flink writes a query into a sink only where each query
//! column's type converts to the sink column's by an *implicit* cast:
//! identity, widening within a family (`INT` → `BIGINT`, any number →
//! `DECIMAL`/`DOUBLE`, integers and `DECIMAL` → `FLOAT`), strings to
//! strings, `TIMESTAMP` ↔ `TIMESTAMP_LTZ`, `TIMESTAMP` → `DATE`/`TIME`,
//! and `NULL` to anything (`LogicalTypeCasts.supportsImplicitCast`,
//! applied by `DynamicSinkUtils.validateSchemaAndApplyImplicitCast`).
//! Nullability is not part of the check (Flink enforces `NOT NULL` per
//! row). Anything else fails with Flink's message: "Column types of query
//! result and sink for '...' do not match", naming the column and both
//! schemas. DataFusion instead casts every column to the sink's type, so a
//! `STRING` into a `BIGINT` used to fail row by row at run time.
//!
//! One subtlety: DataFusion types integer literals as `BIGINT`, Flink as
//! `INT` when they fit. So a column's type here is only *certain* when it
//! is a table column, a `CAST`, or a literal (typed the Flink way); for
//! any other expression (`int_col + 1` is `BIGINT` here, `INT` in Flink)
//! numeric-to-numeric is allowed and only a change of family is refused.
//! Integer arithmetic over those is typed the Flink way too (`int_col + 1`
//! is `INT`, `bigint_col + 1` is `BIGINT`). For any other expression
//! numeric-to-numeric is allowed and only a change of family is refused.
//! That refuses nothing Flink accepts, and still catches a `STRING` into a
//! number or a `BIGINT` column (or the literal 3000000000) into an `INT`.
//!
//! **Constant casts.** A `CAST` of a constant that cannot succeed (an
//! out-of-range number, text that is no number) would fail on every row;
//! DataFusion's simplifier already refuses it while planning, and
//! [`constant_cast_error`] words its error.

use arrow::datatypes::{DataType, IntervalUnit};
use datafusion_common::ScalarValue;
use datafusion_expr::{Expr, ExprSchemable, LogicalPlan, Operator};

use crate::ddl::flink_type_name;
use crate::nodes::TimeAttribute;
use crate::window_tvf::time_attribute;
use crate::{Error, Result};

/// Flink's logical type roots that matter for implicit casts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Null,
    Boolean,
    TinyInt,
    SmallInt,
    Integer,
    BigInt,
    Float,
    Double,
    Decimal,
    String,
    Binary,
    Date,
    Time,
    Timestamp,
    TimestampLtz,
    IntervalYearMonth,
    IntervalDayTime,
    Array,
    Map,
    Row,
}

impl Root {
    fn of(dt: &DataType) -> Option<Root> {
        Some(match dt {
            DataType::Null => Root::Null,
            DataType::Boolean => Root::Boolean,
            DataType::Int8 => Root::TinyInt,
            DataType::Int16 => Root::SmallInt,
            DataType::Int32 => Root::Integer,
            DataType::Int64 => Root::BigInt,
            DataType::Float32 => Root::Float,
            DataType::Float64 => Root::Double,
            DataType::Decimal128(..) | DataType::Decimal256(..) => Root::Decimal,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Root::String,
            DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_) => Root::Binary,
            DataType::Date32 | DataType::Date64 => Root::Date,
            DataType::Time32(_) | DataType::Time64(_) => Root::Time,
            DataType::Timestamp(_, None) => Root::Timestamp,
            DataType::Timestamp(_, Some(_)) => Root::TimestampLtz,
            DataType::Interval(IntervalUnit::YearMonth) => Root::IntervalYearMonth,
            DataType::Interval(_) | DataType::Duration(_) => Root::IntervalDayTime,
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => Root::Array,
            DataType::Map(..) => Root::Map,
            DataType::Struct(_) => Root::Row,
            DataType::Dictionary(_, value) => return Root::of(value),
            // Unsigned integers, unions and the like have no Flink type:
            // not judged here.
            _ => return None,
        })
    }

    fn is_numeric(self) -> bool {
        matches!(
            self,
            Root::TinyInt
                | Root::SmallInt
                | Root::Integer
                | Root::BigInt
                | Root::Float
                | Root::Double
                | Root::Decimal
        )
    }

    fn is_exact_integer(self) -> bool {
        matches!(
            self,
            Root::TinyInt | Root::SmallInt | Root::Integer | Root::BigInt
        )
    }

    /// Bytes of an exact integer type (0 for any other type).
    fn width(self) -> u8 {
        match self {
            Root::TinyInt => 1,
            Root::SmallInt => 2,
            Root::Integer => 4,
            Root::BigInt => 8,
            _ => 0,
        }
    }

    fn is_exact_numeric(self) -> bool {
        self.is_exact_integer() || self == Root::Decimal
    }

    fn is_interval(self) -> bool {
        matches!(self, Root::IntervalYearMonth | Root::IntervalDayTime)
    }

    /// Flink's `supportsImplicitCast` on type roots (constructed types are
    /// compared child by child by [`implicit`]).
    fn implicit_to(self, target: Root) -> bool {
        use Root::*;
        if self == target || self == Null {
            return true;
        }
        // Between an interval and an exact number Flink decides by the
        // interval's fields, which Arrow does not keep: allowed.
        if (self.is_interval() && target.is_exact_numeric())
            || (self.is_exact_numeric() && target.is_interval())
        {
            return true;
        }
        match target {
            Decimal | Double => self.is_numeric(),
            Float => self.is_exact_numeric(),
            BigInt => matches!(self, TinyInt | SmallInt | Integer),
            Integer => matches!(self, TinyInt | SmallInt),
            SmallInt => self == TinyInt,
            Date | Time => self == Timestamp,
            Timestamp => self == TimestampLtz,
            TimestampLtz => self == Timestamp,
            _ => false,
        }
    }
}

/// Whether a `source` value goes into a `target` column by an implicit
/// cast; `None` when either type is outside Flink's types.
fn implicit(source: &DataType, target: &DataType) -> Option<bool> {
    let (s, t) = (Root::of(source)?, Root::of(target)?);
    let children = |a: &DataType, b: &DataType| -> Option<bool> {
        match (a, b) {
            (
                DataType::List(x) | DataType::LargeList(x) | DataType::FixedSizeList(x, _),
                DataType::List(y) | DataType::LargeList(y) | DataType::FixedSizeList(y, _),
            ) => implicit(x.data_type(), y.data_type()),
            (DataType::Map(x, _), DataType::Map(y, _)) => implicit(x.data_type(), y.data_type()),
            (DataType::Struct(x), DataType::Struct(y)) => {
                if x.len() != y.len() {
                    return Some(false);
                }
                let mut all = Some(true);
                for (f, g) in x.iter().zip(y.iter()) {
                    match implicit(f.data_type(), g.data_type()) {
                        Some(false) => return Some(false),
                        None => all = None,
                        Some(true) => {}
                    }
                }
                all
            }
            _ => Some(true),
        }
    };
    match (s, t) {
        (Root::Array | Root::Map | Root::Row, _) | (_, Root::Array | Root::Map | Root::Row)
            if s != Root::Null =>
        {
            if s == t {
                children(source, target)
            } else {
                Some(false)
            }
        }
        _ => Some(s.implicit_to(t)),
    }
}

/// What is known of a query column's Flink type.
#[derive(Debug, Clone)]
enum Known {
    /// Exactly this type (a table column, a `CAST`).
    Certain(DataType),
    /// A literal: typed the Flink way.
    Literal(ScalarValue),
    /// DataFusion's type of an expression, which may be wider than
    /// Flink's for numbers (integer literals are `BIGINT` here).
    Computed(DataType),
}

impl Known {
    /// The type Flink gives it (for literals), else DataFusion's.
    fn flink_type(&self) -> DataType {
        match self {
            Known::Certain(dt) | Known::Computed(dt) => dt.clone(),
            Known::Literal(v) => literal_type(v),
        }
    }

    fn summary(&self) -> String {
        match self {
            Known::Literal(v) if !v.is_null() => {
                format!("{} NOT NULL", flink_type_name(&literal_type(v)))
            }
            other => flink_type_name(&other.flink_type()),
        }
    }
}

/// Flink's type of a numeric literal: `INT` when it fits, else `BIGINT`.
fn literal_type(v: &ScalarValue) -> DataType {
    match v {
        ScalarValue::Int64(Some(n)) if i32::try_from(*n).is_ok() => DataType::Int32,
        other => other.data_type(),
    }
}

/// Traces column `index` of `plan` down to where its value is made.
fn trace(plan: &LogicalPlan, index: usize) -> Known {
    let mut plan = plan;
    let mut index = index;
    loop {
        let field_type = plan
            .schema()
            .fields()
            .get(index)
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Null);
        let next: &LogicalPlan = match plan {
            LogicalPlan::Projection(p) => {
                let Some(mut e) = p.expr.get(index) else {
                    return Known::Computed(field_type);
                };
                while let Expr::Alias(a) = e {
                    e = &a.expr;
                }
                // A plain column: follow it down without recursing.
                if let Expr::Column(c) = e
                    && let Ok(i) = p.input.schema().index_of_column(c)
                {
                    index = i;
                    &p.input
                } else {
                    return known_expr(e, &p.input, field_type);
                }
            }
            LogicalPlan::SubqueryAlias(a) => &a.input,
            LogicalPlan::Filter(f) => &f.input,
            LogicalPlan::Sort(s) => &s.input,
            LogicalPlan::Limit(l) => &l.input,
            LogicalPlan::TableScan(_) => return Known::Certain(field_type),
            LogicalPlan::Aggregate(a) => {
                // Group keys, then aggregates; COUNT is BIGINT in Flink
                // too, the others' types follow their arguments.
                if let Some(key) = a.group_expr.get(index) {
                    return known_expr(key, &a.input, field_type);
                }
                let mut e = a.aggr_expr.get(index - a.group_expr.len());
                while let Some(Expr::Alias(alias)) = e {
                    e = Some(alias.expr.as_ref());
                }
                return match e {
                    Some(Expr::AggregateFunction(f))
                        if f.func.name().eq_ignore_ascii_case("count") =>
                    {
                        Known::Certain(field_type)
                    }
                    _ => Known::Computed(field_type),
                };
            }
            LogicalPlan::Extension(ext) => {
                // Watermark assignment passes its input through; a window
                // table function adds its window columns after them.
                let inputs = ext.node.inputs();
                match inputs.as_slice() {
                    [input] if index < input.schema().fields().len() => input,
                    _ => return Known::Certain(field_type),
                }
            }
            _ => return Known::Computed(field_type),
        };
        plan = next;
    }
}

/// What is known of the type of `e`, evaluated over `input`, whose
/// DataFusion type is `data_type`: literals, casts and columns exactly, and
/// integer arithmetic over those the way Flink types it (the wider operand's
/// type: `INT + 1` is `INT`, `BIGINT + 1` is `BIGINT`).
fn known_expr(e: &Expr, input: &LogicalPlan, data_type: DataType) -> Known {
    let operand = |e: &Expr| -> Option<Known> {
        let mut e = e;
        while let Expr::Alias(a) = e {
            e = &a.expr;
        }
        let data_type = e.get_type(input.schema()).ok()?;
        Some(known_expr(e, input, data_type))
    };
    match e {
        Expr::Column(c) => match input.schema().index_of_column(c) {
            Ok(i) => trace(input, i),
            Err(_) => Known::Computed(data_type),
        },
        Expr::Literal(v, _) => Known::Literal(v.clone()),
        Expr::Negative(inner) => match inner.as_ref() {
            Expr::Literal(v, _) => match v.arithmetic_negate() {
                Ok(v) => Known::Literal(v),
                Err(_) => Known::Computed(data_type),
            },
            _ => Known::Computed(data_type),
        },
        Expr::Cast(c) => Known::Certain(c.field.data_type().clone()),
        Expr::BinaryExpr(b)
            if matches!(
                b.op,
                Operator::Plus
                    | Operator::Minus
                    | Operator::Multiply
                    | Operator::Divide
                    | Operator::Modulo
            ) =>
        {
            let (Some(l), Some(r)) = (operand(&b.left), operand(&b.right)) else {
                return Known::Computed(data_type);
            };
            let exact = |k: &Known| !matches!(k, Known::Computed(_));
            let (lt, rt) = (l.flink_type(), r.flink_type());
            match (Root::of(&lt), Root::of(&rt)) {
                (Some(a), Some(b))
                    if exact(&l) && exact(&r) && a.is_exact_integer() && b.is_exact_integer() =>
                {
                    Known::Certain(if a.width() >= b.width() { lt } else { rt })
                }
                _ => Known::Computed(data_type),
            }
        }
        _ => Known::Computed(data_type),
    }
}

/// Checks an INSERT's plan, as SQL planning made it (before type
/// coercion), against Flink's implicit-cast rule for sinks.
/// Flink's rule that a sink receives at most one rowtime attribute (the
/// one its records are timestamped with): the others must be cast to plain
/// timestamps first. Two come together after an interval join, which keeps
/// both inputs' attributes.
fn check_one_rowtime(query: &LogicalPlan, table: &str, location: Option<(u64, u64)>) -> Result<()> {
    let rowtimes: Vec<&str> = query
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| time_attribute(query, n) == Some(TimeAttribute::Rowtime))
        .collect();
    if rowtimes.len() < 2 {
        return Ok(());
    }
    Err(Error::Plan {
        location,
        message: format!(
            "The query contains more than one rowtime attribute column [{}] for writing into \
             table '{table}'. Select the column that should be used as the event-time timestamp \
             for the table sink by casting all other columns to regular TIMESTAMP or \
             TIMESTAMP_LTZ, e.g. CAST({} AS TIMESTAMP(3))",
            rowtimes.join(", "),
            rowtimes.get(1).copied().unwrap_or_default()
        ),
    })
}

pub(crate) fn check_insert(
    plan: &LogicalPlan,
    table: &str,
    location: Option<(u64, u64)>,
) -> Result<()> {
    let LogicalPlan::Dml(dml) = plan else {
        return Ok(());
    };
    // DataFusion's INSERT: a projection of the query's columns (or NULL
    // for columns the INSERT leaves out), each cast to the sink's type.
    let LogicalPlan::Projection(p) = dml.input.as_ref() else {
        return Ok(());
    };
    let query = p.input.as_ref();
    check_one_rowtime(query, table, location)?;
    let sink = dml.target.schema();
    let query_fields = query.schema().fields();
    let knowns: Vec<Known> = (0..query_fields.len()).map(|i| trace(query, i)).collect();
    for (position, (sink_field, e)) in sink.fields().iter().zip(&p.expr).enumerate() {
        let mut e = e;
        while let Expr::Alias(a) = e {
            e = &a.expr;
        }
        if let Expr::Cast(c) = e {
            e = &c.expr;
        }
        let Expr::Column(c) = e else {
            continue; // a column the INSERT leaves out: NULL
        };
        let Ok(i) = query.schema().index_of_column(c) else {
            continue;
        };
        let Some(known) = knowns.get(i) else {
            continue;
        };
        let source = known.flink_type();
        let target = sink_field.data_type();
        let ok = match (known, Root::of(&source), Root::of(target)) {
            (Known::Computed(_), Some(s), Some(t)) if s.is_numeric() && t.is_numeric() => true,
            _ => implicit(&source, target).unwrap_or(true),
        };
        if !ok {
            let query_schema: Vec<String> = query_fields
                .iter()
                .zip(&knowns)
                .map(|(f, k)| format!("{}: {}", f.name(), k.summary()))
                .collect();
            let sink_schema: Vec<String> = sink
                .fields()
                .iter()
                .map(|f| format!("{}: {}", f.name(), flink_type_name(f.data_type())))
                .collect();
            return Err(Error::Plan {
                location,
                message: format!(
                    "Column types of query result and sink for \
                     'default_catalog.default_database.{table}' do not match.\n\
                     Cause: Incompatible types for sink column '{}' at position {position}.\n\n\
                     Query schema: [{}]\n\
                     Sink schema:  [{}]",
                    sink_field.name(),
                    query_schema.join(", "),
                    sink_schema.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// Words DataFusion's error for a constant `CAST` that cannot succeed
/// ("Arrow error: Cast error: Can't cast value 3000000000 to type Int32")
/// as ours, with Flink's type names; other errors pass unchanged.
pub(crate) fn constant_cast_error(e: Error) -> Error {
    let Error::Plan { location, message } = e else {
        return e;
    };
    let Some(rest) = message.strip_prefix("Arrow error: Cast error: ") else {
        return Error::Plan { location, message };
    };
    let mut rest = rest.to_string();
    for (arrow, flink) in [
        ("Int8", "TINYINT"),
        ("Int16", "SMALLINT"),
        ("Int32", "INT"),
        ("Int64", "BIGINT"),
        ("Float32", "FLOAT"),
        ("Float64", "DOUBLE"),
        ("Utf8", "STRING"),
    ] {
        rest = rest.replace(&format!("type {arrow}"), &format!("type {flink}"));
        rest = rest.replace(&format!("of {arrow} type"), &format!("of {flink} type"));
        rest = rest.replace(
            &format!("out of range {arrow}"),
            &format!("out of range {flink}"),
        );
    }
    Error::Plan {
        location,
        message: format!(
            "a constant in the statement cannot be cast, so every row would fail: {rest}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_implicit_casts() {
        use DataType::*;
        let ltz = Timestamp(arrow::datatypes::TimeUnit::Millisecond, Some("UTC".into()));
        let ts = Timestamp(arrow::datatypes::TimeUnit::Millisecond, None);
        let yes = [
            (Int32, Int64),
            (Int8, Int32),
            (Int64, Decimal128(10, 2)),
            (Decimal128(10, 2), Float32),
            (Float32, Float64),
            (Int64, Float64),
            (Utf8, Utf8),
            (Null, Int32),
            (ts.clone(), ltz.clone()),
            (ltz.clone(), ts.clone()),
            (ts.clone(), Date32),
        ];
        for (s, t) in yes {
            assert_eq!(implicit(&s, &t), Some(true), "{s} -> {t}");
        }
        let no = [
            (Utf8, Int64),
            (Int64, Int32),
            (Int32, Int8),
            (Float64, Float32),
            (Float64, Int64),
            (Decimal128(10, 2), Int64),
            (Int32, Utf8),
            (Boolean, Int32),
            (ltz, Date32),
            (Date32, ts),
        ];
        for (s, t) in no {
            assert_eq!(implicit(&s, &t), Some(false), "{s} -> {t}");
        }
    }
}
