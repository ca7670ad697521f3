//! Window table functions in `FROM`: `TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts),
//! INTERVAL ...))` and its siblings `HOP`, `CUMULATE` and `SESSION`, with
//! positional or named (`DATA =>`, `TIMECOL =>`, `SIZE =>`, ...) arguments.
//!
//! The planner turns the call into a [`WindowTvfNode`] over the planned data
//! argument (a table, a view or a subquery). It also answers which columns
//! are time attributes: the windows need one, and deduplication depends on
//! ordering by one. A column is a rowtime attribute if a `WATERMARK FOR` names
//! it (followed through renaming projections), a processing-time attribute
//! if it is computed by `PROCTIME()`; the `window_time` a window aggregate
//! groups by stays one, so windows cascade.

use std::sync::Arc;

use datafusion_common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion_expr::{Expr, Extension, LogicalPlan};
use datafusion_sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, TableFactor,
};

use crate::dialect::TABLE_ARG;
use crate::nodes::{TimeAttribute, WatermarkNode, WindowKindSpec, WindowTvfNode};

/// Plans window table functions.
#[derive(Debug, Default)]
pub struct WindowTvfPlanner;

/// Parameter names of each function, in positional order.
fn parameters(function: &str) -> Option<&'static [&'static str]> {
    Some(match function {
        "TUMBLE" => &["DATA", "TIMECOL", "SIZE", "OFFSET"],
        "HOP" => &["DATA", "TIMECOL", "SLIDE", "SIZE", "OFFSET"],
        "CUMULATE" => &["DATA", "TIMECOL", "STEP", "SIZE", "OFFSET"],
        "SESSION" => &["DATA", "TIMECOL", "GAP"],
        _ => return None,
    })
}

fn plan_err(msg: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(msg.into())
}

impl RelationPlanner for WindowTvfPlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        ctx: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let TableFactor::TableFunction {
            expr: SqlExpr::Function(f),
            alias,
        } = &relation
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let function = f.name.to_string().to_ascii_uppercase();
        let Some(params) = parameters(&function) else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let FunctionArguments::List(list) = &f.args else {
            return Err(plan_err(format!("{function} needs arguments")));
        };
        // Collect arguments by parameter position.
        let mut args: Vec<Option<SqlExpr>> = vec![None; params.len()];
        for (i, a) in list.args.iter().enumerate() {
            let (slot, e) = match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => (i, e),
                FunctionArg::Named {
                    name,
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => {
                    let n = name.value.to_ascii_uppercase();
                    let slot = params.iter().position(|p| *p == n).ok_or_else(|| {
                        plan_err(format!(
                            "{function} has no parameter '{}'; its parameters are {}",
                            name.value,
                            params.join(", ")
                        ))
                    })?;
                    (slot, e)
                }
                other => {
                    return Err(plan_err(format!(
                        "unsupported argument {other} of {function}"
                    )));
                }
            };
            let cell = args.get_mut(slot).ok_or_else(|| {
                plan_err(format!(
                    "{function} takes at most {} arguments ({})",
                    params.len(),
                    params.join(", ")
                ))
            })?;
            *cell = Some(e.clone());
        }
        let required = if params.last() == Some(&"OFFSET") {
            params.len() - 1
        } else {
            params.len()
        };
        for (i, p) in params.iter().enumerate().take(required) {
            if args[i].is_none() {
                return Err(plan_err(format!(
                    "{function} is missing its {p} argument; call it as {function}({})",
                    params.join(", ")
                )));
            }
        }
        let (input, partition_keys) = plan_data_arg(args[0].take(), ctx, &function)?;
        let time_col = descriptor_column(args[1].take(), &function)?;
        let mut ms = Vec::new();
        for (i, a) in args.into_iter().enumerate().skip(2) {
            ms.push(match a {
                Some(e) => interval_ms(e, ctx, &function, params[i])?,
                None => 0,
            });
        }
        let positive = |v: i64, what: &str| {
            if v > 0 {
                Ok(v)
            } else {
                Err(plan_err(format!(
                    "{function}: {what} must be positive, got {v} ms"
                )))
            }
        };
        let kind = match function.as_str() {
            "TUMBLE" => WindowKindSpec::Tumble {
                size: positive(ms[0], "SIZE")?,
                offset: ms[1],
            },
            "HOP" => {
                let (slide, size) = (positive(ms[0], "SLIDE")?, positive(ms[1], "SIZE")?);
                if size % slide != 0 {
                    return Err(plan_err(format!(
                        "HOP: SIZE ({size} ms) must be an integral multiple of SLIDE ({slide} ms)"
                    )));
                }
                WindowKindSpec::Hop {
                    slide,
                    size,
                    offset: ms[2],
                }
            }
            "CUMULATE" => {
                let (step, size) = (positive(ms[0], "STEP")?, positive(ms[1], "SIZE")?);
                if size % step != 0 {
                    return Err(plan_err(format!(
                        "CUMULATE: SIZE ({size} ms) must be an integral multiple of STEP ({step} ms)"
                    )));
                }
                WindowKindSpec::Cumulate {
                    step,
                    size,
                    offset: ms[2],
                }
            }
            _ => WindowKindSpec::Session {
                gap: positive(ms[0], "GAP")?,
            },
        };
        let time_attribute = time_attribute(&input, &time_col).ok_or_else(|| {
            plan_err(format!(
                "The window function requires the timecol to be a time attribute, but '{time_col}' is a plain column; declare it with WATERMARK FOR or compute it with PROCTIME()"
            ))
        })?;
        let node = WindowTvfNode::try_new(input, kind, time_col, time_attribute, partition_keys)?;
        let plan = LogicalPlan::Extension(Extension {
            node: Arc::new(node),
        });
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan,
            alias.clone(),
        ))))
    }
}

/// Plans `TABLE t [PARTITION BY ...]` (as the dialect rewrote it) or a subquery.
fn plan_data_arg(
    arg: Option<SqlExpr>,
    ctx: &mut dyn RelationPlannerContext,
    function: &str,
) -> Result<(LogicalPlan, Vec<String>)> {
    match arg {
        Some(SqlExpr::Function(f)) if f.name.to_string() == TABLE_ARG => {
            let FunctionArguments::List(list) = f.args else {
                return Err(plan_err("TABLE argument without a name"));
            };
            let mut names = list.args.into_iter().map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                other => Err(plan_err(format!("unexpected TABLE argument {other}"))),
            });
            let table = match names.next().transpose()? {
                Some(SqlExpr::Identifier(i)) => ObjectName(vec![ObjectNamePart::Identifier(i)]),
                Some(SqlExpr::CompoundIdentifier(parts)) => {
                    ObjectName(parts.into_iter().map(ObjectNamePart::Identifier).collect())
                }
                other => {
                    let got = other.map_or_else(|| "nothing".to_string(), |e| e.to_string());
                    return Err(plan_err(format!(
                        "{function}: expected a table name after TABLE, got {got}"
                    )));
                }
            };
            let keys = names
                .map(|k| match k? {
                    SqlExpr::Identifier(i) => Ok(i.value),
                    SqlExpr::CompoundIdentifier(parts) => parts
                        .last()
                        .map(|i: &Ident| i.value.clone())
                        .ok_or_else(|| plan_err("empty PARTITION BY column")),
                    other => Err(plan_err(format!(
                        "{function}: PARTITION BY takes columns, got {other}"
                    ))),
                })
                .collect::<Result<Vec<_>>>()?;
            let plan = ctx.plan(TableFactor::Table {
                name: table,
                alias: None,
                args: None,
                with_hints: vec![],
                version: None,
                with_ordinality: false,
                partitions: vec![],
                json_path: None,
                sample: None,
                index_hints: vec![],
            })?;
            Ok((plan, keys))
        }
        Some(SqlExpr::Subquery(q)) => {
            let plan = ctx.plan(TableFactor::Derived {
                lateral: false,
                subquery: q,
                alias: None,
                sample: None,
            })?;
            Ok((plan, Vec::new()))
        }
        other => Err(plan_err(format!(
            "{function}: the first argument must be TABLE name or a subquery, got {}",
            other.map(|e| e.to_string()).unwrap_or_default()
        ))),
    }
}

/// The column of `DESCRIPTOR(col)`.
fn descriptor_column(arg: Option<SqlExpr>, function: &str) -> Result<String> {
    if let Some(SqlExpr::Function(f)) = &arg
        && f.name.to_string().eq_ignore_ascii_case("DESCRIPTOR")
        && let FunctionArguments::List(list) = &f.args
        && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] = list.args.as_slice()
    {
        match e {
            SqlExpr::Identifier(i) => return Ok(i.value.clone()),
            SqlExpr::CompoundIdentifier(parts) => {
                if let Some(i) = parts.last() {
                    return Ok(i.value.clone());
                }
            }
            _ => {}
        }
    }
    Err(plan_err(format!(
        "{function}: the time column must be given as DESCRIPTOR(column), got {}",
        arg.map(|e| e.to_string()).unwrap_or_default()
    )))
}

/// An `INTERVAL` literal in milliseconds.
fn interval_ms(
    e: SqlExpr,
    ctx: &mut dyn RelationPlannerContext,
    function: &str,
    param: &str,
) -> Result<i64> {
    let text = e.to_string();
    let expr = ctx.sql_to_expr(e, &DFSchema::empty())?;
    let value = match expr {
        Expr::Literal(v, _) => v,
        _ => ScalarValue::Null,
    };
    match value {
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
            Ok(v.days as i64 * 86_400_000 + v.nanoseconds / 1_000_000)
        }
        ScalarValue::IntervalDayTime(Some(v)) => {
            Ok(v.days as i64 * 86_400_000 + v.milliseconds as i64)
        }
        _ => Err(plan_err(format!(
            "{function}: {param} must be a day-time INTERVAL literal such as INTERVAL '10' SECOND, got {text}"
        ))),
    }
}

/// The expression projection `p` computes its column `name` with, without
/// its aliases: where a column's lineage continues below a projection.
pub(crate) fn projected<'a>(
    p: &'a datafusion_expr::logical_plan::Projection,
    name: &str,
) -> Option<&'a Expr> {
    let i = p.schema.fields().iter().position(|f| f.name() == name)?;
    let mut e = p.expr.get(i)?;
    while let Expr::Alias(a) = e {
        e = &a.expr;
    }
    Some(e)
}

/// Whether column `name` of `plan` is a time attribute, and which.
pub fn time_attribute(plan: &LogicalPlan, name: &str) -> Option<TimeAttribute> {
    match plan {
        LogicalPlan::Projection(p) => match projected(p, name)? {
            Expr::Column(c) => time_attribute(&p.input, &c.name),
            Expr::ScalarFunction(f) if f.func.name().eq_ignore_ascii_case("proctime") => {
                Some(TimeAttribute::Proctime)
            }
            _ => None,
        },
        LogicalPlan::Extension(ext) => {
            if let Some(wm) = ext.node.as_any().downcast_ref::<WatermarkNode>() {
                if wm.rowtime == name {
                    return Some(TimeAttribute::Rowtime);
                }
                return time_attribute(&wm.input, name);
            }
            if let Some(t) = ext
                .node
                .as_any()
                .downcast_ref::<crate::temporal_join::TemporalTableNode>()
            {
                return time_attribute(&t.input, name);
            }
            // A temporal join keeps its left input's time attributes.
            if let Some(t) = ext
                .node
                .as_any()
                .downcast_ref::<crate::temporal_join::TemporalJoinNode>()
            {
                let left = &t.join.left;
                let from_left = left.schema().fields().iter().any(|f| f.name() == name);
                return from_left.then(|| time_attribute(left, name)).flatten();
            }
            if let Some(w) = ext.node.as_any().downcast_ref::<WindowTvfNode>() {
                if name == "window_time" {
                    return Some(w.time_attribute);
                }
                return time_attribute(&w.input, name);
            }
            None
        }
        LogicalPlan::Filter(f) => time_attribute(&f.input, name),
        LogicalPlan::SubqueryAlias(a) => time_attribute(&a.input, name),
        // A window aggregate grouped by `window_time` keeps it a time attribute,
        // so a window table function can run over its output (cascaded windows).
        LogicalPlan::Aggregate(a) => {
            let i = a.schema.fields().iter().position(|f| f.name() == name)?;
            let Some(Expr::Column(c)) = a.group_expr.get(i) else {
                return None;
            };
            let windowed = crate::window_bounds::window_keys(a).is_some();
            (windowed && c.name == "window_time")
                .then(|| time_attribute(&a.input, &c.name))
                .flatten()
        }
        // An interval join keeps its inputs' time attributes.
        LogicalPlan::Join(j) => {
            let conjuncts: Vec<Expr> = j
                .filter
                .iter()
                .flat_map(datafusion_expr::utils::split_conjunction)
                .cloned()
                .collect();
            crate::interval_join::join_interval(j, &conjuncts)?;
            let from_left = j.left.schema().fields().iter().any(|f| f.name() == name);
            time_attribute(if from_left { &j.left } else { &j.right }, name)
        }
        LogicalPlan::TableScan(scan) => {
            // Views are inlined; a scan of a view source holds its plan.
            let view = scan.source.downcast_ref::<crate::catalog::ViewSource>()?;
            time_attribute(&view.plan, name)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use riffle_common::config::Configuration;
    use riffle_runtime::metrics::JobMetrics;

    use crate::session::Session;

    fn explain(sql: &str) -> crate::Result<String> {
        Session::new(Configuration::new()).explain_script(
            &format!(
                "CREATE TABLE a (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
                     WITH ('connector' = 'datagen', 'number-of-rows' = '1');
                 CREATE TABLE o (s TIMESTAMP(3), n BIGINT) WITH ('connector' = 'blackhole');
                 {sql}"
            ),
            &Arc::new(JobMetrics::default()),
        )
    }

    #[test]
    fn window_time_of_a_window_aggregate_is_a_time_attribute() {
        let inner = |time: &str| {
            format!(
                "CREATE VIEW w AS SELECT k, {time} AS rt, COUNT(*) AS n
                 FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(ts), INTERVAL '1' SECOND))
                 GROUP BY k, window_start, window_end, window_time;
                 INSERT INTO o SELECT window_start, SUM(n)
                 FROM TABLE(TUMBLE(TABLE w, DESCRIPTOR(rt), INTERVAL '5' SECOND))
                 GROUP BY window_start, window_end;"
            )
        };
        let text = explain(&inner("window_time")).unwrap();
        assert_eq!(text.matches("WindowAggregate").count(), 4, "{text}");
        // window_end is a plain timestamp: no window over it.
        let e = explain(&inner("window_end")).unwrap_err().to_string();
        assert!(e.contains("'rt' is a plain column"), "{e}");
    }
}
