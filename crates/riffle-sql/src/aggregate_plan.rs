//! Physical planning of aggregations and window table functions.
//!
//! A `GROUP BY` whose keys include `window_start` and `window_end` of a
//! window table function below it is a window aggregate (one final row per
//! window, append-only), and so is one grouped by the bounds of a window
//! aggregate below it, over event time ([`crate::window_bounds`]: Flink's
//! window property propagation, q5); with a `SESSION` function it is a session aggregate,
//! keyed by the other group keys. Any other `GROUP BY` is an unbounded group
//! aggregate that emits updates. Every aggregate sits behind a hash exchange
//! on its keys (a global one behind a single-subtask exchange).

use std::sync::Arc;

use datafusion_expr::logical_plan::Aggregate;
use datafusion_expr::{Expr, LogicalPlan};
use riffle_runtime::OperatorFactory;
use riffle_runtime::operators::{
    AggCall, AggFunction, GroupAggregateFactory, SessionAggregateFactory, TimeDomain,
    WindowAggregateFactory, WindowTvfFactory,
};

use datafusion_expr::UserDefinedLogicalNodeCore;

use crate::nodes::{TimeAttribute, WindowKindSpec, WindowTvfNode};
use crate::physical::{Builder, Stream, arrow_schema};
use crate::window_bounds::window_keys;
use crate::{Error, Result};

/// The window table function an aggregate's input comes from, looking
/// through projections, filters and aliases.
pub(crate) fn window_tvf_below(plan: &LogicalPlan) -> Option<&WindowTvfNode> {
    match plan {
        LogicalPlan::Extension(ext) => ext.node.as_any().downcast_ref::<WindowTvfNode>(),
        LogicalPlan::Projection(p) => window_tvf_below(&p.input),
        LogicalPlan::Filter(f) => window_tvf_below(&f.input),
        LogicalPlan::SubqueryAlias(a) => window_tvf_below(&a.input),
        _ => None,
    }
}

fn describe(op: &dyn OperatorFactory) -> String {
    format!("{}({})", op.name(), op.explain())
}

impl Builder {
    pub(crate) fn plan_aggregate(&mut self, a: &Aggregate) -> Result<Stream> {
        let input_schema = a.input.schema();
        let key_name = |name: &str| {
            a.group_expr.iter().position(|e| match e {
                Expr::Column(c) => c.name == name,
                _ => false,
            })
        };
        if a.group_expr
            .iter()
            .any(|e| matches!(e, Expr::GroupingSet(_)))
        {
            return Err(Error::unsupported(
                "GROUPING SETS, CUBE and ROLLUP in streaming queries",
            ));
        }
        // A window aggregate groups by a window's bounds: right over its window
        // table function, or over a window aggregate's output (attached).
        let bounds = window_keys(a);
        let is_session = window_tvf_below(&a.input).is_some()
            && matches!(
                bounds.map(|k| k.origin.kind),
                Some(WindowKindSpec::Session { .. })
            );
        let saved = std::mem::replace(&mut self.session_window_ok, is_session);
        let input = self.plan(&a.input);
        self.session_window_ok = saved;
        let input = input?;
        let keys = a
            .group_expr
            .iter()
            .map(|e| self.physical(e, input_schema))
            .collect::<Result<Vec<_>>>()?;
        let n_keys = a.group_expr.len();
        let mut aggs = Vec::with_capacity(a.aggr_expr.len());
        for (j, e) in a.aggr_expr.iter().enumerate() {
            let out_type = a.schema.field(n_keys + j).data_type().clone();
            aggs.push(self.agg_call(e, input_schema, out_type)?);
        }
        let input_arrow = arrow_schema(input_schema);
        let output_arrow = arrow_schema(&a.schema);
        let Some(window) = bounds else {
            let op = GroupAggregateFactory {
                keys: keys.clone(),
                aggs,
                input_schema: input_arrow,
                output_schema: output_arrow,
                input_updates: input.updates_from.is_some(),
                ttl: self.state_ttl(&a.input),
            };
            let v = self.keyed_vertex(&input, keys);
            let updates_from = Some(describe(&op));
            self.push(v, Arc::new(op));
            return Ok(Stream {
                vertex: v,
                updates_from,
            });
        };
        if let Some(op) = &input.updates_from {
            return Err(Error::plan(format!(
                "Window aggregate doesn't support consuming update changes which is produced by node {op}"
            )));
        }
        let (start_key, end_key, node) = (window.start, window.end, window.origin);
        let time = match node.time_attribute {
            TimeAttribute::Rowtime => TimeDomain::EventTime,
            TimeAttribute::Proctime => TimeDomain::ProcessingTime,
        };
        let end_offset_ms = self.end_offset_ms(node);
        if is_session {
            let op = SessionAggregateFactory {
                keys,
                start_key,
                end_key,
                time_key: key_name("window_time"),
                aggs,
                input_schema: input_arrow,
                output_schema: output_arrow,
                time,
                end_offset_ms,
            };
            let mut group_cols: Vec<String> = Vec::new();
            for (i, e) in a.group_expr.iter().enumerate() {
                if i == op.start_key || i == op.end_key || Some(i) == op.time_key {
                    continue;
                }
                match e {
                    Expr::Column(c) => group_cols.push(c.name.clone()),
                    other => {
                        return Err(Error::unsupported(format!(
                            "grouping a SESSION window by the expression {other}; group by columns of the PARTITION BY clause"
                        )));
                    }
                }
            }
            let mut partition = node.partition_keys.clone();
            partition.sort();
            group_cols.sort();
            if partition != group_cols {
                return Err(Error::unsupported(format!(
                    "a SESSION window partitioned by [{}] grouped by [{}]: group by exactly the PARTITION BY columns plus window_start and window_end",
                    node.partition_keys.join(", "),
                    group_cols.join(", ")
                )));
            }
            let v = self.keyed_vertex(&input, op.partition_keys());
            self.push(v, Arc::new(op));
            return Ok(Stream {
                vertex: v,
                updates_from: None,
            });
        }
        let op = WindowAggregateFactory {
            keys: keys.clone(),
            end_key,
            aggs,
            input_schema: input_arrow,
            output_schema: output_arrow,
            time,
            end_offset_ms,
        };
        let v = self.keyed_vertex(&input, keys);
        self.push(v, Arc::new(op));
        Ok(Stream {
            vertex: v,
            updates_from: None,
        })
    }

    /// How far the end of `node`'s windows is from the instant they fire:
    /// windows over a `TIMESTAMP_LTZ` are in the session's time zone.
    fn end_offset_ms(&self, node: &WindowTvfNode) -> i64 {
        if node.is_ltz() {
            self.config.execution.local_time_zone_offset_ms
        } else {
            0
        }
    }

    pub(crate) fn agg_call(
        &self,
        e: &Expr,
        input_schema: &datafusion_common::DFSchema,
        output_type: arrow::datatypes::DataType,
    ) -> Result<AggCall> {
        let mut e = e;
        while let Expr::Alias(a) = e {
            e = &a.expr;
        }
        let Expr::AggregateFunction(af) = e else {
            return Err(Error::unsupported(format!("aggregate expression {e}")));
        };
        let name = af.func.name().to_ascii_lowercase();
        let function = match name.as_str() {
            "count" => AggFunction::Count,
            "sum" => AggFunction::Sum,
            "avg" => AggFunction::Avg,
            "min" => AggFunction::Min,
            "max" => AggFunction::Max,
            other => {
                return Err(Error::unsupported(format!(
                    "aggregate function {} in streaming queries (supported: COUNT, SUM, AVG, MIN, MAX)",
                    other.to_uppercase()
                )));
            }
        };
        let p = &af.params;
        if !p.order_by.is_empty() {
            return Err(Error::unsupported(format!("ORDER BY inside {e}")));
        }
        let arg = match p.args.as_slice() {
            [] => None,
            // COUNT(*) arrives as COUNT(1).
            [Expr::Literal(v, _)] if function == AggFunction::Count && !v.is_null() => None,
            [a] => Some(self.physical(a, input_schema)?),
            _ => {
                return Err(Error::unsupported(format!(
                    "{} with {} arguments",
                    name.to_uppercase(),
                    p.args.len()
                )));
            }
        };
        let filter = match &p.filter {
            None => None,
            Some(f) => Some(self.physical(f, input_schema)?),
        };
        Ok(AggCall {
            function,
            arg,
            filter,
            distinct: p.distinct,
            output_type,
        })
    }

    pub(crate) fn plan_window_tvf(&mut self, w: &WindowTvfNode) -> Result<Stream> {
        if matches!(w.kind, WindowKindSpec::Session { .. }) && !self.session_window_ok {
            return Err(Error::unsupported(
                "a SESSION window table function that is not aggregated; GROUP BY window_start, window_end and the PARTITION BY columns",
            ));
        }
        let input = self.plan(&w.input)?;
        if let Some(op) = &input.updates_from {
            return Err(Error::plan(format!(
                "Window table function doesn't support consuming update changes which is produced by node {op}"
            )));
        }
        let time_index = w
            .input
            .schema()
            .fields()
            .iter()
            .position(|f| f.name() == &w.time_col)
            .ok_or_else(|| Error::plan(format!("time column '{}' was pruned", w.time_col)))?;
        let local_offset_ms = if w.is_ltz() {
            self.config.execution.local_time_zone_offset_ms
        } else {
            0
        };
        let kind = w.kind.runtime();
        self.push(
            input.vertex,
            Arc::new(WindowTvfFactory {
                kind,
                time_index,
                local_offset_ms,
                schema: arrow_schema(w.schema()),
            }),
        );
        Ok(input)
    }
}
