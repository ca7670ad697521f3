//! Recognising a window join: both inputs windowed (a window table function,
//! or a window aggregate that keeps the window bounds) and the condition
//! equating both `window_start`s and both `window_end`s. Flink plans such a
//! join as a `WindowJoin`, fired per window when the watermark passes its
//! end; anything else over windowed inputs stays a regular join.

use datafusion_common::Column;
use datafusion_expr::logical_plan::Join;
use datafusion_expr::{Expr, LogicalPlan};

use crate::nodes::{TimeAttribute, WindowTvfNode};

/// Which window bound a column carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Start,
    End,
}

/// The window part of a join condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WindowCondition {
    /// The left input's `window_end` column.
    pub left_end: Column,
    /// The right input's `window_end` column.
    pub right_end: Column,
    /// What the windows of both sides measure.
    pub attribute: TimeAttribute,
}

/// The window condition of join `j` with equality keys `on`, if both inputs
/// are windowed and the keys equate both bounds.
pub(crate) fn window_condition(j: &Join, on: &[(Expr, Expr)]) -> Option<WindowCondition> {
    let mut start = None;
    let mut end = None;
    for (l, r) in on {
        let (Expr::Column(l), Expr::Column(r)) = (l, r) else {
            continue;
        };
        let (Some((lb, la)), Some((rb, ra))) = (
            bound(&j.left, &l.name, true),
            bound(&j.right, &r.name, true),
        ) else {
            continue;
        };
        if lb != rb || la != ra {
            continue;
        }
        match lb {
            Bound::Start => start = Some(la),
            Bound::End => end = Some((l.clone(), r.clone(), la)),
        }
    }
    let (left_end, right_end, attribute) = end?;
    (start? == attribute).then_some(WindowCondition {
        left_end,
        right_end,
        attribute,
    })
}

/// Whether column `name` of `plan` is a window's start or end, and what
/// the window measures: traced through projections that keep it as it is,
/// filters, aliases and the group keys of one window aggregate
/// (`aggregate_ok`). An aggregate over a window aggregate's output (q5's
/// maximum per window) is a regular, updating aggregate: its bounds are
/// plain columns, and a join on them is a regular join, as in Flink.
fn bound(plan: &LogicalPlan, name: &str, aggregate_ok: bool) -> Option<(Bound, TimeAttribute)> {
    match plan {
        LogicalPlan::Projection(p) => {
            let i = p.schema.fields().iter().position(|f| f.name() == name)?;
            let mut e = p.expr.get(i)?;
            while let Expr::Alias(a) = e {
                e = &a.expr;
            }
            match e {
                Expr::Column(c) => bound(&p.input, &c.name, aggregate_ok),
                _ => None,
            }
        }
        LogicalPlan::Filter(f) => bound(&f.input, name, aggregate_ok),
        LogicalPlan::SubqueryAlias(a) => bound(&a.input, name, aggregate_ok),
        LogicalPlan::Aggregate(a) if aggregate_ok => {
            let i = a.schema.fields().iter().position(|f| f.name() == name)?;
            match a.group_expr.get(i)? {
                Expr::Column(c) => bound(&a.input, &c.name, false),
                _ => None,
            }
        }
        LogicalPlan::Extension(ext) => {
            let w = ext.node.as_any().downcast_ref::<WindowTvfNode>()?;
            match name {
                "window_start" => Some((Bound::Start, w.time_attribute)),
                "window_end" => Some((Bound::End, w.time_attribute)),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use riffle_common::config::Configuration;
    use riffle_runtime::metrics::JobMetrics;

    use crate::session::Session;

    const TABLES: &str = "
        CREATE TABLE a (k BIGINT, v BIGINT, ts TIMESTAMP(3), p AS PROCTIME(),
                        WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
            WITH ('connector' = 'datagen', 'number-of-rows' = '1');
        CREATE TABLE o (k BIGINT, v BIGINT) WITH ('connector' = 'blackhole');";

    fn explain(insert: &str) -> crate::Result<String> {
        Session::new(Configuration::new()).explain_script(
            &format!("{TABLES}\n{insert}"),
            &Arc::new(JobMetrics::default()),
        )
    }

    fn windowed(time: &str, alias: &str) -> String {
        format!(
            "(SELECT k, v, window_start AS ws, window_end AS we
              FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR({time}), INTERVAL '5' SECOND))) {alias}"
        )
    }

    #[test]
    fn both_window_bounds_equated_make_a_window_join() {
        let (l, r) = (windowed("ts", "l"), windowed("ts", "r"));
        let text = explain(&format!(
            "INSERT INTO o SELECT l.k, r.v FROM {l} LEFT JOIN {r}
             ON l.k = r.k AND l.ws = r.ws AND l.we = r.we;"
        ))
        .unwrap();
        assert!(
            text.contains("WindowJoin: joinType=[LeftOuterJoin]"),
            "{text}"
        );
        // One bound only: a regular join.
        let text = explain(&format!(
            "INSERT INTO o SELECT l.k, r.v FROM {l} JOIN {r} ON l.k = r.k AND l.we = r.we;"
        ))
        .unwrap();
        assert!(!text.contains("WindowJoin"), "{text}");
        assert!(text.contains("Join: joinType=[InnerJoin]"), "{text}");
        // Bounds of an aggregate over a window aggregate are plain columns (q5).
        let max = "(SELECT MAX(n) AS m, ws, we FROM (SELECT COUNT(*) AS n, window_start AS ws,
                     window_end AS we FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(ts), INTERVAL '5' SECOND))
                     GROUP BY k, window_start, window_end) GROUP BY ws, we) r";
        let text = explain(&format!(
            "INSERT INTO o SELECT l.k, r.m FROM {l} JOIN {max} ON l.ws = r.ws AND l.we = r.we;"
        ))
        .unwrap();
        assert!(!text.contains("WindowJoin"), "{text}");
        // Processing-time windows are refused, as in Flink.
        let (l, r) = (windowed("p", "l"), windowed("p", "r"));
        let e = explain(&format!(
            "INSERT INTO o SELECT l.k, r.v FROM {l} JOIN {r}
             ON l.k = r.k AND l.ws = r.ws AND l.we = r.we;"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("processing-time windows"), "{e}");
    }
}
