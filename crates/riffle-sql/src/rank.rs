//! Top-N and deduplication: a filter on `ROW_NUMBER() OVER (PARTITION BY ...
//! ORDER BY ...)`.
//!
//! The logical shape is `Filter(rn <= N) → [Projection | SubqueryAlias]* →
//! Window(row_number)`. The filter's conjuncts on the row number give the
//! kept range; other conjuncts stay a filter. Following Flink, ordering by a
//! single time attribute with only row number 1 kept and the number not
//! selected is deduplication: "keep last" (`DESC`) lets a later row with an
//! equal time replace the kept one, "keep first" keeps the earliest; over
//! processing time the order is the arrival order. Everything else is Top-N,
//! where equal rows keep their arrival order. Over an updating input the
//! Top-N keeps every row so a retraction can promote the next (Flink's
//! retract strategy); deduplication needs an append-only input, as in Flink.

use std::sync::Arc;

use datafusion_common::ScalarValue;
use datafusion_expr::logical_plan::{Filter, Projection, Window};
use datafusion_expr::utils::{conjunction, split_conjunction};
use datafusion_expr::{BinaryExpr, Expr, LogicalPlan, Operator};
use riffle_runtime::OperatorFactory;
use riffle_runtime::operators::{CalcFactory, RankFactory, SortKey};

use crate::nodes::TimeAttribute;
use crate::physical::{Builder, Stream, arrow_schema};
use crate::window_tvf::time_attribute;
use crate::{Error, Result};

/// A matched rank filter.
#[derive(Debug)]
pub(crate) struct RankMatch<'a> {
    /// The window node computing the row number.
    window: &'a Window,
    /// Projections between the window and the filter, bottom-up.
    projections: Vec<&'a Projection>,
    /// The row number's column name as the filter sees it.
    pub(crate) column: String,
    start: usize,
    end: usize,
    /// Conjuncts of the filter that are not about the row number.
    rest: Vec<Expr>,
}

impl RankMatch<'_> {
    /// The partition columns of a Top-1 (or deduplication): each partition
    /// keeps one row, so they are a unique key of the output.
    pub(crate) fn top1_partition(&self) -> Option<Vec<String>> {
        if self.start != 1 || self.end != 1 {
            return None;
        }
        let [Expr::WindowFunction(wf)] = self.window.window_expr.as_slice() else {
            return None;
        };
        wf.params
            .partition_by
            .iter()
            .map(|e| match e {
                Expr::Column(c) => Some(c.name.clone()),
                _ => None,
            })
            .collect()
    }
}

/// The filter below a projection (through aliases), if it is a rank filter.
pub(crate) fn rank_filter_below(plan: &LogicalPlan) -> Result<Option<(&Filter, RankMatch<'_>)>> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => rank_filter_below(&a.input),
        LogicalPlan::Filter(f) => Ok(match_rank(f)?.map(|m| (f, m))),
        _ => Ok(None),
    }
}

fn literal_usize(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(v, _) => match v {
            ScalarValue::Int8(Some(x)) => Some(*x as i64),
            ScalarValue::Int16(Some(x)) => Some(*x as i64),
            ScalarValue::Int32(Some(x)) => Some(*x as i64),
            ScalarValue::Int64(Some(x)) => Some(*x),
            ScalarValue::UInt8(Some(x)) => Some(*x as i64),
            ScalarValue::UInt16(Some(x)) => Some(*x as i64),
            ScalarValue::UInt32(Some(x)) => Some(*x as i64),
            ScalarValue::UInt64(Some(x)) => i64::try_from(*x).ok(),
            ScalarValue::Decimal128(Some(x), _, 0) => i64::try_from(*x).ok(),
            _ => None,
        },
        Expr::Cast(c) => literal_usize(&c.expr),
        Expr::TryCast(c) => literal_usize(&c.expr),
        _ => None,
    }
}

fn is_column(e: &Expr, name: &str) -> bool {
    match e {
        Expr::Column(c) => c.name == name,
        Expr::Cast(c) => is_column(&c.expr, name),
        Expr::TryCast(c) => is_column(&c.expr, name),
        _ => false,
    }
}

/// Matches `Filter(rn <op> N ...)` over a `ROW_NUMBER()` window.
pub(crate) fn match_rank(f: &Filter) -> Result<Option<RankMatch<'_>>> {
    let mut projections = Vec::new();
    let mut node = f.input.as_ref();
    let window = loop {
        match node {
            LogicalPlan::Window(w) => break w,
            LogicalPlan::Projection(p) => {
                projections.push(p);
                node = &p.input;
            }
            LogicalPlan::SubqueryAlias(a) => node = &a.input,
            _ => return Ok(None),
        }
    };
    let [Expr::WindowFunction(wf)] = window.window_expr.as_slice() else {
        return Ok(None);
    };
    if !wf.fun.name().eq_ignore_ascii_case("row_number") {
        return Ok(None);
    }
    projections.reverse();
    // Follow the row number's name up through the projections.
    let mut column = window
        .schema
        .fields()
        .last()
        .map(|f| f.name().clone())
        .ok_or_else(|| Error::plan("window without columns"))?;
    for p in &projections {
        let Some(i) = p.expr.iter().position(|e| {
            let mut e = e;
            while let Expr::Alias(a) = e {
                e = &a.expr;
            }
            is_column(e, &column)
        }) else {
            return Ok(None);
        };
        column = p.schema.field(i).name().clone();
    }
    let (mut start, mut end) = (1i64, i64::MAX);
    let mut rest = Vec::new();
    let mut bounded = false;
    for c in split_conjunction(&f.predicate) {
        let bound = match c {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                if is_column(left, &column) {
                    literal_usize(right).map(|n| (*op, n))
                } else if is_column(right, &column) {
                    literal_usize(left).and_then(|n| op.swap().map(|o| (o, n)))
                } else {
                    None
                }
            }
            _ => None,
        };
        match bound {
            Some((Operator::LtEq, n)) => end = end.min(n),
            Some((Operator::Lt, n)) => end = end.min(n - 1),
            Some((Operator::Eq, n)) => {
                start = start.max(n);
                end = end.min(n);
            }
            Some((Operator::GtEq, n)) => start = start.max(n),
            Some((Operator::Gt, n)) => start = start.max(n + 1),
            _ => {
                rest.push(c.clone());
                continue;
            }
        }
        bounded = true;
    }
    if !bounded || end == i64::MAX {
        return Ok(None);
    }
    if end < start || end < 1 {
        return Err(Error::plan(format!(
            "the filter on {column} keeps no rows (row numbers {start} to {end})"
        )));
    }
    let start = start.max(1) as usize;
    let end = usize::try_from(end).map_err(|_| Error::plan("rank bound out of range"))?;
    if end > 100_000 {
        return Err(Error::unsupported(format!(
            "Top-N with N = {end}; Riffle keeps at most 100000 rows per partition"
        )));
    }
    Ok(Some(RankMatch {
        window,
        projections,
        column,
        start,
        end,
        rest,
    }))
}

impl Builder {
    /// Plans a matched rank filter; `rank_used` says whether anything above
    /// reads the row number.
    pub(crate) fn plan_rank(
        &mut self,
        f: &Filter,
        m: RankMatch<'_>,
        rank_used: bool,
    ) -> Result<Stream> {
        let w = m.window;
        let [Expr::WindowFunction(wf)] = w.window_expr.as_slice() else {
            return Err(Error::plan("rank window changed shape"));
        };
        let input = self.plan(&w.input)?;
        let in_schema = w.input.schema();
        let partition = wf
            .params
            .partition_by
            .iter()
            .map(|e| self.physical(e, in_schema))
            .collect::<Result<Vec<_>>>()?;
        let mut order = wf
            .params
            .order_by
            .iter()
            .map(|s| {
                Ok(SortKey {
                    expr: self.physical(&s.expr, in_schema)?,
                    descending: !s.asc,
                    nulls_first: s.nulls_first,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut later_wins_ties = false;
        // Deduplication: row number 1 of a time order, the number not selected.
        let mut dedup_on_time = false;
        if m.start == 1
            && m.end == 1
            && !rank_used
            && let [s] = wf.params.order_by.as_slice()
            && let Expr::Column(c) = &s.expr
        {
            match time_attribute(&w.input, &c.name) {
                Some(TimeAttribute::Rowtime) => {
                    later_wins_ties = !s.asc;
                    dedup_on_time = true;
                }
                Some(TimeAttribute::Proctime) => {
                    later_wins_ties = !s.asc;
                    dedup_on_time = true;
                    order.clear();
                }
                None => {}
            }
        }
        if let (true, Some(op)) = (dedup_on_time, &input.updates_from) {
            return Err(Error::plan(format!(
                "Deduplicate doesn't support consuming update and delete changes which is produced by node {op}"
            )));
        }
        let op = RankFactory {
            partition: partition.clone(),
            order,
            start: m.start,
            end: m.end,
            output_rank: rank_used,
            later_wins_ties,
            retract: input.updates_from.is_some(),
            input_schema: arrow_schema(in_schema),
            output_schema: arrow_schema(&w.schema),
        };
        let updates_from = op
            .produces_updates()
            .then(|| format!("{}({})", op.name(), op.explain()));
        let v = self.keyed_vertex(&input, partition);
        self.push(v, Arc::new(op));
        for p in &m.projections {
            self.push_projection(v, p)?;
        }
        if let Some(pred) = conjunction(m.rest.clone()) {
            let pred = self.physical(&pred, f.input.schema())?;
            let calc = CalcFactory::try_new(Some(pred), None, arrow_schema(f.input.schema()))?;
            self.push(v, Arc::new(calc));
        }
        Ok(Stream {
            vertex: v,
            updates_from,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use riffle_common::config::Configuration;
    use riffle_runtime::metrics::JobMetrics;

    use crate::session::Session;

    const TABLES: &str = "
        CREATE TABLE a (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
            WITH ('connector' = 'datagen', 'number-of-rows' = '1');
        CREATE TABLE o (k BIGINT, n BIGINT) WITH ('connector' = 'blackhole');";

    fn explain(insert: &str) -> crate::Result<String> {
        Session::new(Configuration::new()).explain_script(
            &format!("{TABLES}\n{insert}"),
            &Arc::new(JobMetrics::default()),
        )
    }

    #[test]
    fn top_n_over_an_updating_input_keeps_every_row() {
        let text = explain(
            "INSERT INTO o SELECT k, n FROM (
               SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY n DESC) AS rn
               FROM (SELECT k, COUNT(*) AS n FROM a GROUP BY k, v)) WHERE rn <= 2;",
        )
        .unwrap();
        assert!(text.contains("Rank: strategy=[RetractStrategy]"), "{text}");
        let text = explain(
            "INSERT INTO o SELECT k, v FROM (
               SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC) AS rn FROM a)
             WHERE rn <= 2;",
        )
        .unwrap();
        assert!(
            text.contains("Rank: strategy=[AppendFastStrategy]"),
            "{text}"
        );
    }
}
