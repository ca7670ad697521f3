//! Recognising an interval join in a join's condition: conjuncts that bound
//! the difference of the two inputs' time attributes from both sides, as
//! `l.t BETWEEN r.t - INTERVAL '10' SECOND AND r.t + INTERVAL '5' SECOND`
//! or with `<`, `<=`, `>`, `>=`. Flink plans such a join as an
//! `IntervalJoin` when both columns are time attributes of the same kind
//! (both rowtime or both proctime) and both a lower and an upper bound are
//! given; anything else stays a regular join. An interval join's output
//! keeps both time attributes (a regular join's loses them).

use datafusion_common::{Column, ScalarValue};
use datafusion_expr::logical_plan::Join;
use datafusion_expr::{Between, BinaryExpr, Expr, Operator};
use riffle_runtime::operators::TimeBounds;

use crate::nodes::TimeAttribute;
use crate::window_tvf::time_attribute;

/// The interval part of a join condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IntervalCondition {
    /// The left input's time column.
    pub left_time: Column,
    /// The right input's time column.
    pub right_time: Column,
    /// What both measure.
    pub attribute: TimeAttribute,
    /// `left_time - right_time` lies within these.
    pub bounds: TimeBounds,
    /// The conjuncts that are not bounds of the interval.
    pub rest: Vec<Expr>,
}

/// The interval condition of join `j` among `conjuncts` (its condition's,
/// equality keys taken out), with the time attributes looked up in its
/// inputs.
pub(crate) fn join_interval(j: &Join, conjuncts: &[Expr]) -> Option<IntervalCondition> {
    interval_condition(conjuncts, |c| {
        let (side, input) = if j.left.schema().has_column(c) {
            (0, &j.left)
        } else if j.right.schema().has_column(c) {
            (1, &j.right)
        } else {
            return None;
        };
        time_attribute(input, &c.name).map(|a| (side, a))
    })
}

/// One bound on `left_time - right_time`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound {
    AtLeast(i64),
    AtMost(i64),
}

/// The interval condition among `conjuncts`, if they bound the difference
/// of two time attributes from both sides. `time_of` tells of a column the
/// input it is from (0 left, 1 right) and whether it is a time attribute.
pub(crate) fn interval_condition(
    conjuncts: &[Expr],
    time_of: impl Fn(&Column) -> Option<(usize, TimeAttribute)>,
) -> Option<IntervalCondition> {
    let mut pair: Option<(Column, Column, TimeAttribute)> = None;
    let (mut lower, mut upper) = (None::<i64>, None::<i64>);
    let mut rest = Vec::new();
    for c in conjuncts {
        let bounds = bounds_of(c, &time_of).filter(|(l, r, a, _)| {
            pair.as_ref()
                .is_none_or(|(pl, pr, pa)| pl == l && pr == r && pa == a)
        });
        let Some((l, r, a, found)) = bounds else {
            rest.push(c.clone());
            continue;
        };
        pair = Some((l, r, a));
        for b in found {
            match b {
                Bound::AtLeast(v) => lower = Some(lower.map_or(v, |x| x.max(v))),
                Bound::AtMost(v) => upper = Some(upper.map_or(v, |x| x.min(v))),
            }
        }
    }
    let (left_time, right_time, attribute) = pair?;
    Some(IntervalCondition {
        left_time,
        right_time,
        attribute,
        bounds: TimeBounds {
            lower: lower?,
            upper: upper?,
        },
        rest,
    })
}

/// The bounds one conjunct puts on `left - right` of two time attributes.
fn bounds_of(
    e: &Expr,
    time_of: &impl Fn(&Column) -> Option<(usize, TimeAttribute)>,
) -> Option<(Column, Column, TimeAttribute, Vec<Bound>)> {
    match e {
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => {
            let (l1, r1, a1, mut b1) = compared(expr, Operator::GtEq, low, time_of)?;
            let (l2, r2, a2, b2) = compared(expr, Operator::LtEq, high, time_of)?;
            if (&l1, &r1, a1) != (&l2, &r2, a2) {
                return None;
            }
            b1.extend(b2);
            Some((l1, r1, a1, b1))
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => compared(left, *op, right, time_of),
        _ => None,
    }
}

/// The bound of `a op b`, where each side is a time attribute plus or
/// minus a constant interval.
fn compared(
    a: &Expr,
    op: Operator,
    b: &Expr,
    time_of: &impl Fn(&Column) -> Option<(usize, TimeAttribute)>,
) -> Option<(Column, Column, TimeAttribute, Vec<Bound>)> {
    let (ca, oa) = time_term(a)?;
    let (cb, ob) = time_term(b)?;
    let (sa, ka) = time_of(&ca)?;
    let (sb, kb) = time_of(&cb)?;
    if sa == sb || ka != kb {
        return None;
    }
    // ca + oa op cb + ob, as left - right op constant.
    let (left, right, op, c) = if sa == 0 {
        (ca, cb, op, ob.checked_sub(oa)?)
    } else {
        (cb, ca, op.swap()?, oa.checked_sub(ob)?)
    };
    let bound = match op {
        Operator::GtEq => Bound::AtLeast(c),
        Operator::Gt => Bound::AtLeast(c.checked_add(1)?),
        Operator::LtEq => Bound::AtMost(c),
        Operator::Lt => Bound::AtMost(c.checked_sub(1)?),
        _ => return None,
    };
    Some((left, right, ka, vec![bound]))
}

/// `column ± interval` (casts of the column allowed) as the column and the
/// offset in milliseconds.
fn time_term(e: &Expr) -> Option<(Column, i64)> {
    match e {
        Expr::Column(c) => Some((c.clone(), 0)),
        Expr::Cast(c) => time_term(&c.expr),
        Expr::TryCast(c) => time_term(&c.expr),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (col, base) = time_term(left)?;
            let offset = interval_ms(right)?;
            match op {
                Operator::Plus => Some((col, base.checked_add(offset)?)),
                Operator::Minus => Some((col, base.checked_sub(offset)?)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A constant day-time interval in milliseconds (a month has no fixed
/// length, so year-month intervals bound nothing).
fn interval_ms(e: &Expr) -> Option<i64> {
    let Expr::Literal(v, _) = e else {
        return None;
    };
    match v {
        ScalarValue::IntervalDayTime(Some(v)) => i64::from(v.days)
            .checked_mul(86_400_000)?
            .checked_add(i64::from(v.milliseconds)),
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => i64::from(v.days)
            .checked_mul(86_400_000)?
            .checked_add(v.nanoseconds / 1_000_000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::IntervalMonthDayNano;
    use datafusion_expr::{col, lit};

    fn seconds(s: i64) -> Expr {
        lit(ScalarValue::IntervalMonthDayNano(Some(
            IntervalMonthDayNano::new(0, 0, s * 1_000_000_000),
        )))
    }

    /// `l.t`, `l.p` (proctime) on the left; `r.t`, `r.p` on the right.
    fn time_of(c: &Column) -> Option<(usize, TimeAttribute)> {
        let side = match c.relation.as_ref()?.table() {
            "l" => 0,
            "r" => 1,
            _ => return None,
        };
        match c.name.as_str() {
            "t" => Some((side, TimeAttribute::Rowtime)),
            "p" => Some((side, TimeAttribute::Proctime)),
            _ => None,
        }
    }

    fn found(conjuncts: &[Expr]) -> Option<(i64, i64, usize)> {
        interval_condition(conjuncts, time_of)
            .map(|c| (c.bounds.lower, c.bounds.upper, c.rest.len()))
    }

    #[test]
    fn between_and_comparisons_bound_the_difference_from_both_sides() {
        let between = col("l.t").between(col("r.t") - seconds(10), col("r.t") + seconds(5));
        assert_eq!(found(&[between]), Some((-10_000, 5_000, 0)));
        // The right side on the left of the comparison, strict bounds.
        let gt = col("r.t").gt(col("l.t") - seconds(2));
        let lt = col("r.t").lt(col("l.t") + seconds(3));
        assert_eq!(
            found(&[gt, lt, col("l.x").eq(lit(1))]),
            Some((-2_999, 1_999, 1))
        );
        // Proctime on both sides.
        let p = [
            col("l.p").gt_eq(col("r.p")),
            col("l.p").lt_eq(col("r.p") + seconds(1)),
        ];
        assert_eq!(found(&p), Some((0, 1_000, 0)));
    }

    #[test]
    fn one_bound_or_mixed_time_kinds_make_no_interval_join() {
        assert_eq!(found(&[col("l.t").gt_eq(col("r.t"))]), None);
        assert_eq!(
            found(&[col("l.t").gt_eq(col("r.p")), col("l.t").lt_eq(col("r.p"))]),
            None
        );
        // Not time attributes.
        assert_eq!(
            found(&[col("l.x").gt_eq(col("r.x")), col("l.x").lt_eq(col("r.x"))]),
            None
        );
    }
}
