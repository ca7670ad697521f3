//! Unique keys: columns whose values no two current rows of a plan's output
//! share. A join side with one keeps one row per unique key, as Flink's join
//! input specs do (`JoinKeyContainsUniqueKey`, `HasUniqueKey`).
//!
//! Keys come from a table's `PRIMARY KEY`, the keys of a `GROUP BY` (one row
//! per group), the partition of a Top-1 or deduplication (one row per
//! partition) and `SELECT DISTINCT` (every column), and survive filters,
//! aliases and projections that keep all their columns.

use datafusion_expr::{Expr, LogicalPlan};

use crate::catalog::{PhysicalTableSource, ViewSource};

/// The `PRIMARY KEY` columns a table declares (none: empty).
pub(crate) fn declared_primary_key(src: &PhysicalTableSource) -> Vec<String> {
    src.table
        .ddl
        .primary_key
        .iter()
        .map(|i| i.value.clone())
        .collect()
}

/// One unique key of `plan`'s output, as column names of its schema.
pub(crate) fn unique_key(plan: &LogicalPlan) -> Option<Vec<String>> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            if let Some(view) = scan.source.downcast_ref::<ViewSource>() {
                return unique_key(&view.plan);
            }
            let pk = declared_primary_key(scan.source.downcast_ref::<PhysicalTableSource>()?);
            let visible = pk
                .iter()
                .all(|c| scan.projected_schema.fields().iter().any(|f| f.name() == c));
            (!pk.is_empty() && visible).then_some(pk)
        }
        LogicalPlan::Projection(p) => {
            let key = unique_key(&p.input)?;
            key.iter()
                .map(|k| {
                    p.expr.iter().zip(p.schema.fields()).find_map(|(e, f)| {
                        let mut e = e;
                        while let Expr::Alias(a) = e {
                            e = &a.expr;
                        }
                        matches!(e, Expr::Column(c) if &c.name == k).then(|| f.name().clone())
                    })
                })
                .collect()
        }
        LogicalPlan::Filter(f) => {
            if let Ok(Some((_, m))) = crate::rank::rank_filter_below(plan)
                && let Some(key) = m.top1_partition()
            {
                return Some(key);
            }
            unique_key(&f.input)
        }
        LogicalPlan::SubqueryAlias(a) => unique_key(&a.input),
        // A window adds columns to every row and keeps them all.
        LogicalPlan::Window(w) => unique_key(&w.input),
        LogicalPlan::Aggregate(a) => {
            let plain = !a.group_expr.is_empty()
                && !a
                    .group_expr
                    .iter()
                    .any(|e| matches!(e, Expr::GroupingSet(_)));
            plain.then(|| {
                a.schema
                    .fields()
                    .iter()
                    .take(a.group_expr.len())
                    .map(|f| f.name().clone())
                    .collect()
            })
        }
        LogicalPlan::Distinct(datafusion_expr::Distinct::All(input)) => Some(
            input
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        ),
        LogicalPlan::Extension(e) => {
            let wm = e
                .node
                .as_any()
                .downcast_ref::<crate::nodes::WatermarkNode>()?;
            unique_key(&wm.input)
        }
        _ => None,
    }
}
