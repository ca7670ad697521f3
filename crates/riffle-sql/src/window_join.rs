//! Recognising a window join: both inputs windowed (a window table function,
//! or a window aggregate that keeps the window bounds, see
//! [`crate::window_bounds`]) and the condition
//! equating both `window_start`s and both `window_end`s. Flink plans such a
//! join as a `WindowJoin`, fired per window when the watermark passes its
//! end; anything else over windowed inputs stays a regular join.

use datafusion_common::Column;
use datafusion_expr::Expr;
use datafusion_expr::logical_plan::Join;

use crate::nodes::TimeAttribute;
use crate::window_bounds::{Bound, bound};

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
        let (Some((lb, lw)), Some((rb, rw))) = (bound(&j.left, &l.name), bound(&j.right, &r.name))
        else {
            continue;
        };
        let (la, ra) = (lw.time_attribute, rw.time_attribute);
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
        // An aggregate grouped by a window aggregate's bounds keeps them
        // window bounds (q5): the join on them is a window join.
        let max = |time: &str| {
            format!(
                "(SELECT MAX(n) AS m, ws, we FROM (SELECT COUNT(*) AS n, window_start AS ws,
                   window_end AS we FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR({time}), INTERVAL '5' SECOND))
                   GROUP BY k, window_start, window_end) GROUP BY ws, we) r"
            )
        };
        let text = explain(&format!(
            "INSERT INTO o SELECT l.k, r.m FROM {l} JOIN {} ON l.ws = r.ws AND l.we = r.we
             AND l.v >= r.m;",
            max("ts")
        ))
        .unwrap();
        assert!(text.contains("WindowJoin: joinType=[InnerJoin]"), "{text}");
        assert!(!text.contains("GroupAggregate"), "{text}");
        // Over processing time they are plain columns: a regular join.
        let p = windowed("p", "l");
        let text = explain(&format!(
            "INSERT INTO o SELECT l.k, r.m FROM {p} JOIN {} ON l.ws = r.ws AND l.we = r.we;",
            max("p")
        ))
        .unwrap();
        assert!(text.contains("GroupAggregate"), "{text}");
        assert!(text.contains("Join: joinType=[InnerJoin]"), "{text}");
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
