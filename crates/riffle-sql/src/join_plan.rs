//! Planning joins: both inputs hashed by their equality keys into one
//! two-input vertex (input 0 the left side, input 1 the right), or, without
//! equality keys, both sent to a single subtask as Flink does. The vertex
//! runs a `WindowJoin` when both inputs are windowed and the condition equates
//! their windows ([`crate::window_join`]), an `IntervalJoin` when it bounds
//! the distance of two time attributes ([`crate::interval_join`]), else a
//! regular `Join`.

use std::sync::Arc;

use datafusion_common::DFSchema;
use datafusion_expr::LogicalPlan;
use datafusion_expr::logical_plan::{Filter, Join};
use datafusion_expr::utils::{conjunction, split_conjunction};
use datafusion_expr::{BinaryExpr, Expr, JoinType, Operator};
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::expressions::Column;
use riffle_runtime::operators::{
    CalcFactory, InputSpec, IntervalJoinFactory, JoinFactory, JoinKind, TimeDomain,
    WindowJoinFactory,
};
use riffle_runtime::{OperatorFactory, Partitioning};

use crate::interval_join::join_interval;
use crate::nodes::TimeAttribute;
use crate::physical::{Builder, Stream, arrow_schema};
use crate::window_join::window_condition;
use crate::{Error, Result};

impl Builder {
    pub(crate) fn plan_join(&mut self, j: &Join) -> Result<Stream> {
        let kind = join_kind(j)?;
        let (on, filter) = equi_keys(j);
        let window = window_condition(j, &on);
        let conjuncts: Vec<Expr> = filter.iter().flat_map(split_conjunction).cloned().collect();
        let interval = if kind.is_semi_or_anti() || window.is_some() {
            None
        } else {
            join_interval(j, &conjuncts)
        };
        let conjuncts = match &interval {
            Some(i) => i.rest.clone(),
            None => conjuncts,
        };
        // Conditions on one input alone filter that input before the join
        // (less state), where that keeps the join's meaning: on either side
        // of an inner join, on the side of an outer join whose rows are not
        // kept unmatched.
        let (mut to_left, mut to_right, mut rest) = (Vec::new(), Vec::new(), Vec::new());
        for c in &conjuncts {
            if only_from(c, j.left.schema()) && !kind.keeps_unmatched(0) {
                to_left.push(c.clone());
            } else if only_from(c, j.right.schema()) && !kind.keeps_unmatched(1) {
                to_right.push(c.clone());
            } else {
                rest.push(c.clone());
            }
        }
        let filter = conjunction(rest);
        let filtered = |input: &Arc<LogicalPlan>, preds: Vec<Expr>| -> Result<Arc<LogicalPlan>> {
            Ok(match conjunction(preds) {
                Some(p) => Arc::new(LogicalPlan::Filter(Filter::try_new(p, Arc::clone(input))?)),
                None => Arc::clone(input),
            })
        };
        let left = self.plan(filtered(&j.left, to_left)?.as_ref())?;
        let right = self.plan(filtered(&j.right, to_right)?.as_ref())?;
        let (left_keys, right_keys) = self.join_keys(j, &on)?;
        // The condition reads the columns of both inputs: the join's own
        // output, except for SEMI and ANTI joins, whose output is the left
        // columns only (their operator still outputs both, the right ones
        // null, and a projection follows).
        let pairs_schema = if kind.is_semi_or_anti() {
            Arc::new(j.left.schema().join(j.right.schema())?)
        } else {
            Arc::clone(&j.schema)
        };
        let filter = filter
            .as_ref()
            .map(|f| self.physical(f, &pairs_schema))
            .transpose()?;
        let left_schema = arrow_schema(j.left.schema());
        let right_schema = arrow_schema(j.right.schema());
        let output_schema = if kind.is_semi_or_anti() {
            let right = right_schema
                .fields()
                .iter()
                .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)));
            Arc::new(arrow::datatypes::Schema::new(
                left_schema
                    .fields()
                    .iter()
                    .cloned()
                    .chain(right)
                    .collect::<Vec<_>>(),
            ))
        } else {
            arrow_schema(&j.schema)
        };
        // An interval or window join's output is append-only, whatever its type.
        let appends_only = interval.is_some() || window.is_some();
        let op: Arc<dyn OperatorFactory> = if let Some(w) = &window {
            if w.attribute == TimeAttribute::Proctime {
                return Err(Error::unsupported(
                    "window joins on processing-time windows; Flink joins windows of event time only",
                ));
            }
            if let Some(u) = left.updates_from.as_ref().or(right.updates_from.as_ref()) {
                return Err(Error::unsupported(format!(
                    "WindowJoin doesn't support consuming update and delete changes \
                     which is produced by node {u}"
                )));
            }
            Arc::new(WindowJoinFactory {
                kind,
                left_keys: left_keys.clone(),
                right_keys: right_keys.clone(),
                filter,
                left_window_end: j.left.schema().index_of_column(&w.left_end)?,
                right_window_end: j.right.schema().index_of_column(&w.right_end)?,
                left_schema: Arc::clone(&left_schema),
                right_schema,
                output_schema,
            })
        } else {
            match interval {
                Some(iv) => {
                    if let Some(u) = left.updates_from.as_ref().or(right.updates_from.as_ref()) {
                        return Err(Error::unsupported(format!(
                            "IntervalJoin doesn't support consuming update and delete changes \
                         which is produced by node {u}"
                        )));
                    }
                    Arc::new(IntervalJoinFactory {
                        kind,
                        left_keys: left_keys.clone(),
                        right_keys: right_keys.clone(),
                        filter,
                        time: match iv.attribute {
                            TimeAttribute::Rowtime => TimeDomain::EventTime,
                            TimeAttribute::Proctime => TimeDomain::ProcessingTime,
                        },
                        bounds: iv.bounds,
                        left_time: j.left.schema().index_of_column(&iv.left_time)?,
                        right_time: j.right.schema().index_of_column(&iv.right_time)?,
                        left_schema: Arc::clone(&left_schema),
                        right_schema,
                        output_schema,
                    })
                }
                None => Arc::new(JoinFactory {
                    kind,
                    left_keys: left_keys.clone(),
                    right_keys: right_keys.clone(),
                    filter,
                    left_schema: Arc::clone(&left_schema),
                    right_schema,
                    output_schema,
                    ttl: [self.state_ttl(&j.left), self.state_ttl(&j.right)],
                    input_specs: [
                        input_spec(&j.left, on.iter().map(|p| &p.0)),
                        input_spec(&j.right, on.iter().map(|p| &p.1)),
                    ],
                    appends_only: [left.updates_from.is_none(), right.updates_from.is_none()],
                }),
            }
        };
        let (v, right_partitioning) = if left_keys.is_empty() {
            (self.keyed_vertex(&left, Vec::new()), Partitioning::Single)
        } else {
            (
                self.keyed_vertex(&left, left_keys),
                Partitioning::Hash(right_keys),
            )
        };
        self.add_edge(&right, v, 1, right_partitioning);
        // A semi join retracts only what an updating input retracts; an
        // anti join retracts a row when its first match comes.
        let updates_from = match (&left.updates_from, &right.updates_from) {
            _ if appends_only => None,
            _ if !matches!(kind, JoinKind::Inner | JoinKind::Semi) => {
                Some(format!("{}({})", op.name(), op.explain()))
            }
            (Some(u), _) | (None, Some(u)) => Some(u.clone()),
            (None, None) => None,
        };
        self.push(v, op);
        if kind.is_semi_or_anti() {
            let left_columns = (0..left_schema.fields().len())
                .map(|i| {
                    Arc::new(Column::new(left_schema.field(i).name(), i)) as Arc<dyn PhysicalExpr>
                })
                .collect();
            self.push_calc(
                v,
                CalcFactory::try_new(None, Some(left_columns), left_schema)?,
            );
        }
        Ok(Stream {
            vertex: v,
            updates_from,
        })
    }
}

/// One side's join key expressions.
type Keys = Vec<Arc<dyn PhysicalExpr>>;

impl Builder {
    /// The physical equality keys of join `j` over its left and right
    /// inputs; both sides of a pair must have the same type.
    pub(crate) fn join_keys(&self, j: &Join, on: &[(Expr, Expr)]) -> Result<(Keys, Keys)> {
        let mut left_keys = Vec::with_capacity(on.len());
        let mut right_keys = Vec::with_capacity(on.len());
        for (l, r) in on {
            let lk = self.physical(l, j.left.schema())?;
            let rk = self.physical(r, j.right.schema())?;
            let lt = lk.data_type(j.left.schema().as_arrow())?;
            let rt = rk.data_type(j.right.schema().as_arrow())?;
            if lt != rt {
                return Err(Error::plan(format!(
                    "join keys {l} ({lt}) and {r} ({rt}) have different types; CAST one to the other's"
                )));
            }
            left_keys.push(lk);
            right_keys.push(rk);
        }
        Ok((left_keys, right_keys))
    }
}

/// The runtime's kind of join `j`, or why it is not one a stream can run.
pub(crate) fn join_kind(j: &Join) -> Result<JoinKind> {
    Ok(match j.join_type {
        JoinType::Inner => JoinKind::Inner,
        JoinType::Left => JoinKind::Left,
        JoinType::Right => JoinKind::Right,
        JoinType::Full => JoinKind::Full,
        JoinType::LeftSemi => JoinKind::Semi,
        JoinType::LeftAnti if j.null_aware => {
            return Err(Error::unsupported(
                "NOT IN with a subquery whose column may be NULL in streaming queries; \
                 write it as NOT EXISTS (... WHERE a = b), or filter the NULLs out",
            ));
        }
        JoinType::LeftAnti => JoinKind::Anti,
        other => {
            return Err(Error::unsupported(format!(
                "{other} joins in streaming queries"
            )));
        }
    })
}

/// How an input's rows are told apart: by a unique key inside its join keys
/// (`keys`, the input's side of the equalities), outside them, or none.
fn input_spec<'a>(input: &LogicalPlan, keys: impl Iterator<Item = &'a Expr>) -> InputSpec {
    let Some(unique) = crate::unique_key::unique_key(input) else {
        return InputSpec::NoUniqueKey;
    };
    let join_columns: Vec<&str> = keys
        .filter_map(|e| match e {
            Expr::Column(c) => Some(c.name.as_str()),
            _ => None,
        })
        .collect();
    if unique.iter().all(|u| join_columns.contains(&u.as_str())) {
        return InputSpec::JoinKeyContainsUniqueKey;
    }
    let schema = input.schema();
    let columns: Option<Vec<usize>> = unique
        .iter()
        .map(|u| schema.fields().iter().position(|f| f.name() == u))
        .collect();
    columns.map_or(InputSpec::NoUniqueKey, InputSpec::HasUniqueKey)
}

/// The join's equality keys and its residual condition: the keys of `ON`,
/// plus every `left-expr = right-expr` conjunct of the condition (the
/// planner leaves some there, e.g. after an outer join's `ON` was not
/// split), so that no equality join runs on a single subtask.
pub(crate) fn equi_keys(j: &Join) -> (Vec<(Expr, Expr)>, Option<Expr>) {
    let mut on = j.on.clone();
    let Some(filter) = &j.filter else {
        return (on, None);
    };
    let mut rest = Vec::new();
    for c in split_conjunction(filter) {
        if let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) = c
        {
            let (l, r) = (left.as_ref(), right.as_ref());
            if only_from(l, j.left.schema()) && only_from(r, j.right.schema()) {
                on.push((l.clone(), r.clone()));
                continue;
            }
            if only_from(r, j.left.schema()) && only_from(l, j.right.schema()) {
                on.push((r.clone(), l.clone()));
                continue;
            }
        }
        rest.push(c.clone());
    }
    (on, conjunction(rest))
}

/// Whether `e` reads columns, all of them from `schema`.
fn only_from(e: &Expr, schema: &DFSchema) -> bool {
    let cols = e.column_refs();
    !cols.is_empty() && cols.iter().all(|c| schema.has_column(c))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use riffle_common::config::Configuration;
    use riffle_runtime::metrics::JobMetrics;

    use crate::session::Session;

    const TABLES: &str = "
        CREATE TABLE a (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
            WITH ('connector' = 'datagen', 'number-of-rows' = '1');
        CREATE TABLE b (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
            WITH ('connector' = 'datagen', 'number-of-rows' = '1');
        CREATE TABLE o (k BIGINT, n BIGINT) WITH ('connector' = 'blackhole');";

    fn explain(insert: &str) -> crate::Result<String> {
        Session::new(Configuration::new()).explain_script(
            &format!("{TABLES}\n{insert}"),
            &Arc::new(JobMetrics::default()),
        )
    }

    #[test]
    fn bounds_on_both_sides_of_two_time_attributes_make_an_interval_join() {
        let text = explain(
            "INSERT INTO o SELECT a.k, b.k FROM a LEFT JOIN b ON a.k = b.k
             AND a.ts BETWEEN b.ts - INTERVAL '2' SECOND AND b.ts + INTERVAL '1' SECOND;",
        )
        .unwrap();
        assert!(
            text.contains(
                "IntervalJoin: joinType=[LeftOuterJoin], windowBounds=[isRowTime=true, \
                 leftLowerBound=-2000, leftUpperBound=1000"
            ),
            "{text}"
        );
        // One bound only: a regular join, the condition kept whole.
        let text =
            explain("INSERT INTO o SELECT a.k, b.k FROM a JOIN b ON a.k = b.k AND a.ts > b.ts;")
                .unwrap();
        assert!(text.contains("Join: joinType=[InnerJoin]"), "{text}");
        assert!(!text.contains("IntervalJoin"), "{text}");
    }

    #[test]
    fn an_interval_join_keeps_both_time_attributes_so_a_sink_gets_one_only() {
        let both =
            "CREATE TABLE t2 (a TIMESTAMP(3), b TIMESTAMP(3)) WITH ('connector' = 'blackhole');
            INSERT INTO t2 SELECT a.ts AS x, b.ts AS y FROM a JOIN b ON a.k = b.k
            AND a.ts BETWEEN b.ts AND b.ts + INTERVAL '1' SECOND;";
        let e = explain(both).unwrap_err().to_string();
        assert!(
            e.contains("more than one rowtime attribute column [x, y]"),
            "{e}"
        );
        assert!(e.contains("CAST(y AS TIMESTAMP(3))"), "{e}");
        let one = "CREATE TABLE t2 (a TIMESTAMP(3), b TIMESTAMP(3)) WITH ('connector' = 'blackhole');
            INSERT INTO t2 SELECT a.ts AS x, CAST(b.ts AS TIMESTAMP(3)) AS y FROM a JOIN b ON a.k = b.k
            AND a.ts BETWEEN b.ts AND b.ts + INTERVAL '1' SECOND;";
        explain(one).unwrap();
    }

    #[test]
    fn a_time_column_that_lost_its_attribute_makes_a_regular_join() {
        let text = explain(
            "INSERT INTO o SELECT a.k, c.n FROM a JOIN (
                SELECT k, COUNT(*) AS n, MAX(ts) AS ts FROM b GROUP BY k) AS c
             ON a.k = c.k AND a.ts BETWEEN c.ts AND c.ts + INTERVAL '1' SECOND;",
        )
        .unwrap();
        // MAX(ts) is no time attribute: the join is a regular one, as in Flink.
        assert!(!text.contains("IntervalJoin"), "{text}");
    }

    #[test]
    fn a_side_with_a_unique_key_is_planned_with_it() {
        // Group keys inside the join key; a Top-1's partition outside it; none.
        let text = explain(
            "INSERT INTO o SELECT a.k, c.n FROM a
             JOIN (SELECT k, COUNT(*) AS n FROM b GROUP BY k) AS c ON a.k = c.k;",
        )
        .unwrap();
        assert!(
            text.contains("leftInputSpec=[NoUniqueKey], rightInputSpec=[JoinKeyContainsUniqueKey]"),
            "{text}"
        );
        let text = explain(
            "INSERT INTO o SELECT a.k, t.k FROM a JOIN (
               SELECT k, ts FROM (SELECT k, ts, ROW_NUMBER() OVER (PARTITION BY ts ORDER BY k) AS rn FROM b)
               WHERE rn = 1) AS t ON a.k = t.k AND t.ts > a.ts;",
        )
        .unwrap();
        assert!(
            text.contains("rightInputSpec=[HasUniqueKey(keys=[ts])]"),
            "{text}"
        );
    }
}
