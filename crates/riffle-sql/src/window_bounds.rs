//! Which columns of a plan carry the bounds of a window.
//!
//! A window table function makes `window_start` and `window_end`; a window
//! aggregate grouped by both keeps them as window bounds, and so does an
//! aggregate grouped by the bounds of a window aggregate below it (Flink's
//! window property propagation: q5's maximum count per window is a window
//! aggregate of its own, not an updating one). The planner asks this module
//! whether a `GROUP BY` is a window aggregate and whether a join equates two
//! inputs' windows; both answers come from the same tracing, so a join over
//! cascaded window aggregates is a window join exactly when the aggregates
//! below it are window aggregates.

use datafusion_expr::logical_plan::Aggregate;
use datafusion_expr::{Expr, LogicalPlan};

use crate::nodes::{TimeAttribute, WindowTvfNode};

/// Which window bound a column carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    Start,
    End,
}

/// The window bounds among an aggregate's group keys.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowKeys<'a> {
    /// The position of the `window_start` key among the group keys.
    pub start: usize,
    /// The position of the `window_end` key among the group keys.
    pub end: usize,
    /// The window table function the bounds were first assigned by.
    pub origin: &'a WindowTvfNode,
}

/// Whether column `name` of `plan` is a window's start or end, and the
/// window table function that assigned it: traced through projections that
/// keep the column as it is, filters, aliases, views and the group keys of
/// window aggregates.
pub(crate) fn bound<'a>(plan: &'a LogicalPlan, name: &str) -> Option<(Bound, &'a WindowTvfNode)> {
    match plan {
        LogicalPlan::Projection(p) => match crate::window_tvf::projected(p, name)? {
            Expr::Column(c) => bound(&p.input, &c.name),
            _ => None,
        },
        LogicalPlan::Filter(f) => bound(&f.input, name),
        LogicalPlan::SubqueryAlias(a) => bound(&a.input, name),
        LogicalPlan::Aggregate(a) => {
            let keys = window_keys(a)?;
            let i = a.schema.fields().iter().position(|f| f.name() == name)?;
            if i == keys.start {
                Some((Bound::Start, keys.origin))
            } else if i == keys.end {
                Some((Bound::End, keys.origin))
            } else {
                None
            }
        }
        LogicalPlan::Extension(ext) => {
            let w = ext.node.as_any().downcast_ref::<WindowTvfNode>()?;
            match name {
                "window_start" => Some((Bound::Start, w)),
                "window_end" => Some((Bound::End, w)),
                _ => None,
            }
        }
        LogicalPlan::TableScan(scan) => {
            // Views are inlined; a scan of a view source holds its plan.
            let view = scan.source.downcast_ref::<crate::catalog::ViewSource>()?;
            bound(&view.plan, name)
        }
        _ => None,
    }
}

/// The window bounds among `a`'s group keys, if it groups by the start and
/// the end of one window: then it is a window aggregate.
pub(crate) fn window_keys(a: &Aggregate) -> Option<WindowKeys<'_>> {
    let (mut start, mut end) = (None, None);
    for (i, e) in a.group_expr.iter().enumerate() {
        let Expr::Column(c) = e else { continue };
        match bound(&a.input, &c.name) {
            Some((Bound::Start, w)) => start = start.or(Some((i, w))),
            Some((Bound::End, w)) => end = end.or(Some((i, w))),
            None => {}
        }
    }
    let ((start, origin), (end, other)) = (start?, end?);
    // Over a window aggregate's output, the bounds of processing-time
    // windows are plain columns: those rows arrive after their windows
    // closed on the wall clock, so no window of them could fire once.
    let attached = crate::aggregate_plan::window_tvf_below(&a.input).is_none();
    if attached && origin.time_attribute == TimeAttribute::Proctime {
        return None;
    }
    same_windows(origin, other).then_some(WindowKeys { start, end, origin })
}

/// Whether two window table functions assign the same windows over the same
/// time attribute (the bounds of one window, perhaps reached along two paths).
fn same_windows(a: &WindowTvfNode, b: &WindowTvfNode) -> bool {
    std::ptr::eq(a, b)
        || (a.kind == b.kind && a.time_col == b.time_col && a.time_attribute == b.time_attribute)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use riffle_common::config::Configuration;
    use riffle_runtime::metrics::JobMetrics;

    use crate::session::Session;

    fn explain(time: &str, outer_keys: &str) -> crate::Result<String> {
        Session::new(Configuration::new()).explain_script(
            &format!(
                "CREATE TABLE a (k BIGINT, ts TIMESTAMP(3), p AS PROCTIME(), WATERMARK FOR ts AS ts)
                     WITH ('connector' = 'datagen', 'number-of-rows' = '1');
                 CREATE TABLE o (s TIMESTAMP(3), n BIGINT) WITH ('connector' = 'blackhole');
                 CREATE VIEW per_key AS SELECT k, window_start AS ws, window_end AS we, COUNT(*) AS n
                 FROM TABLE(HOP(TABLE a, DESCRIPTOR({time}), INTERVAL '1' SECOND, INTERVAL '2' SECOND))
                 GROUP BY k, window_start, window_end;
                 INSERT INTO o SELECT ws, MAX(n) FROM per_key GROUP BY {outer_keys};"
            ),
            &Arc::new(JobMetrics::default()),
        )
    }

    #[test]
    fn grouping_by_a_window_aggregates_bounds_is_a_window_aggregate() {
        let text = explain("ts", "we, ws").unwrap();
        assert_eq!(text.matches("  WindowAggregate:").count(), 2, "{text}");
        assert!(!text.contains("GroupAggregate"), "{text}");
        // Both bounds are needed; one alone is a plain column.
        let text = explain("ts", "ws").unwrap();
        assert!(text.contains("GroupAggregate"), "{text}");
        // Processing-time bounds stay plain columns over an aggregate's output.
        let text = explain("p", "ws, we").unwrap();
        assert_eq!(text.matches("  WindowAggregate:").count(), 1, "{text}");
        assert!(text.contains("GroupAggregate"), "{text}");
    }
}
