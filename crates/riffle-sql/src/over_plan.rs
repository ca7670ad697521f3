//! Planning OVER aggregates: a `Window` node of aggregate functions over one
//! window `(PARTITION BY ... ORDER BY time ROWS|RANGE BETWEEN ... PRECEDING
//! AND CURRENT ROW)` becomes an `OverAggregate` vertex hashed by the
//! partition keys. Flink's rules: every aggregate over the same window,
//! ordered ascending by one time attribute, a frame that ends at the current
//! row, an append-only input. (`ROW_NUMBER()` filters are Top-N, planned by
//! [`crate::rank`].)
//!
//! Beyond Flink: over an updating input (Nexmark q6's average over a Top-1)
//! a `ROWS` window with any `ORDER BY` plans a `RetractOverAggregate`,
//! whose result is always the batch result over the input's current rows.

use std::sync::Arc;

use datafusion_common::ScalarValue;
use datafusion_expr::logical_plan::Window;
use datafusion_expr::{
    Expr, WindowFrame, WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition,
};
use riffle_runtime::OperatorFactory;
use riffle_runtime::operators::{
    OverAggregateFactory, OverFrame, RetractOverFactory, SortKey, TimeDomain,
};

use crate::nodes::TimeAttribute;
use crate::physical::{Builder, Stream, arrow_schema};
use crate::window_tvf::time_attribute;
use crate::{Error, Result};

impl Builder {
    pub(crate) fn plan_over(&mut self, w: &Window) -> Result<Stream> {
        let mut calls = Vec::with_capacity(w.window_expr.len());
        let mut window: Option<(&[Expr], &[datafusion_expr::SortExpr], &WindowFrame)> = None;
        let input_schema = w.input.schema();
        let n_input = input_schema.fields().len();
        for (j, e) in w.window_expr.iter().enumerate() {
            let mut e = e;
            while let Expr::Alias(a) = e {
                e = &a.expr;
            }
            let Expr::WindowFunction(wf) = e else {
                return Err(Error::unsupported(format!("window expression {e}")));
            };
            let WindowFunctionDefinition::AggregateUDF(udf) = &wf.fun else {
                return Err(Error::unsupported(format!(
                    "{} OVER (...) in streaming queries: ROW_NUMBER() is supported as Top-N \
                     (filtered on the row number), aggregates as OVER aggregates",
                    wf.fun.name().to_uppercase()
                )));
            };
            let p = &wf.params;
            let this = (
                p.partition_by.as_slice(),
                p.order_by.as_slice(),
                &p.window_frame,
            );
            match window {
                None => window = Some(this),
                Some(first) if first == this => {}
                Some(_) => {
                    return Err(Error::unsupported(
                        "Over Agg: Unsupported use of OVER windows. All aggregates must be \
                         computed on the same window.",
                    ));
                }
            }
            let aggregate =
                Expr::AggregateFunction(datafusion_expr::expr::AggregateFunction::new_udf(
                    Arc::clone(udf),
                    p.args.clone(),
                    p.distinct,
                    p.filter.clone(),
                    Vec::new(),
                    None,
                ));
            let out_type = w.schema.field(n_input + j).data_type().clone();
            calls.push(self.agg_call(&aggregate, input_schema, out_type)?);
        }
        let Some((partition_by, order_by, frame)) = window else {
            return Err(Error::plan("an OVER window without aggregates"));
        };
        let input = self.plan(&w.input)?;
        if input.updates_from.is_some() {
            return self.plan_retract_over(w, input, calls, partition_by, order_by, frame);
        }
        let [order] = order_by else {
            return Err(Error::unsupported(
                "OVER windows' ordering in stream mode must be defined on one time attribute",
            ));
        };
        let time_column = match &order.expr {
            Expr::Column(c) if order.asc => c,
            _ => {
                return Err(Error::unsupported(format!(
                    "OVER windows' ordering in stream mode must be defined on a time attribute, \
                     ascending; got ORDER BY {order}"
                )));
            }
        };
        let time = match time_attribute(&w.input, &time_column.name) {
            Some(TimeAttribute::Rowtime) => TimeDomain::EventTime,
            Some(TimeAttribute::Proctime) => TimeDomain::ProcessingTime,
            None => {
                return Err(Error::unsupported(format!(
                    "OVER windows' ordering in stream mode must be defined on a time attribute; \
                     {} is none",
                    time_column.name
                )));
            }
        };
        let frame = over_frame(frame)?;
        let keys = partition_by
            .iter()
            .map(|e| self.physical(e, input_schema))
            .collect::<Result<Vec<_>>>()?;
        let op = OverAggregateFactory {
            keys: keys.clone(),
            calls,
            frame,
            time,
            time_index: input_schema.index_of_column(time_column)?,
            input_schema: arrow_schema(input_schema),
            output_schema: arrow_schema(&w.schema),
        };
        let v = self.keyed_vertex(&input, keys);
        self.push(v, Arc::new(op));
        Ok(Stream {
            vertex: v,
            updates_from: None,
        })
    }
}

impl Builder {
    /// An OVER window over an updating input: `ROWS` frames only, any order.
    fn plan_retract_over(
        &mut self,
        w: &Window,
        input: Stream,
        calls: Vec<riffle_runtime::operators::AggCall>,
        partition_by: &[Expr],
        order_by: &[datafusion_expr::SortExpr],
        frame: &WindowFrame,
    ) -> Result<Stream> {
        let updates = input.updates_from.clone().unwrap_or_default();
        let preceding = match over_frame(frame)? {
            OverFrame::Rows(n) => n,
            OverFrame::Range(_) => {
                return Err(Error::unsupported(format!(
                    "an OVER window with a RANGE frame over an updating input (produced by node \
                     {updates}): over updates only ROWS frames are supported"
                )));
            }
        };
        if order_by.is_empty() {
            return Err(Error::unsupported(
                "an OVER window over an updating input needs an ORDER BY",
            ));
        }
        let input_schema = w.input.schema();
        let order = order_by
            .iter()
            .map(|s| {
                Ok(SortKey {
                    expr: self.physical(&s.expr, input_schema)?,
                    descending: !s.asc,
                    nulls_first: s.nulls_first,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let keys = partition_by
            .iter()
            .map(|e| self.physical(e, input_schema))
            .collect::<Result<Vec<_>>>()?;
        let op = RetractOverFactory {
            keys: keys.clone(),
            order,
            calls,
            preceding,
            input_schema: arrow_schema(input_schema),
            output_schema: arrow_schema(&w.schema),
        };
        let updates_from = Some(format!("{}({})", op.name(), op.explain()));
        let v = self.keyed_vertex(&input, keys);
        self.push(v, Arc::new(op));
        Ok(Stream {
            vertex: v,
            updates_from,
        })
    }
}

/// The runtime's frame of a window frame ending at the current row.
fn over_frame(f: &WindowFrame) -> Result<OverFrame> {
    if !matches!(f.end_bound, WindowFrameBound::CurrentRow) {
        return Err(Error::unsupported(format!(
            "OVER frame {f}: in streaming queries a frame ends at CURRENT ROW"
        )));
    }
    let WindowFrameBound::Preceding(start) = &f.start_bound else {
        return Err(Error::unsupported(format!(
            "OVER frame {f}: a frame starts at UNBOUNDED PRECEDING or n PRECEDING"
        )));
    };
    let unbounded = start.is_null();
    match f.units {
        WindowFrameUnits::Rows if unbounded => Ok(OverFrame::Rows(None)),
        WindowFrameUnits::Rows => match start {
            ScalarValue::UInt64(Some(n)) => Ok(OverFrame::Rows(Some(*n))),
            ScalarValue::Int64(Some(n)) if *n >= 0 => Ok(OverFrame::Rows(Some(*n as u64))),
            other => Err(Error::unsupported(format!(
                "OVER frame {f}: ROWS needs a count of rows, got {other}"
            ))),
        },
        WindowFrameUnits::Range if unbounded => Ok(OverFrame::Range(None)),
        WindowFrameUnits::Range => match start {
            ScalarValue::IntervalDayTime(Some(v)) => Ok(OverFrame::Range(Some(
                i64::from(v.days) * 86_400_000 + i64::from(v.milliseconds),
            ))),
            ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => Ok(OverFrame::Range(
                Some(i64::from(v.days) * 86_400_000 + v.nanoseconds / 1_000_000),
            )),
            other => Err(Error::unsupported(format!(
                "OVER frame {f}: RANGE needs a day-time INTERVAL such as INTERVAL '10' SECOND, \
                 got {other}"
            ))),
        },
        WindowFrameUnits::Groups => {
            Err(Error::unsupported(format!("OVER frame {f}: GROUPS frames")))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use riffle_common::config::Configuration;
    use riffle_runtime::metrics::JobMetrics;

    use crate::session::Session;

    fn explain(select: &str) -> crate::Result<String> {
        let sql = format!(
            "CREATE TABLE a (k BIGINT, v BIGINT, ts TIMESTAMP(3),
                 WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
                 WITH ('connector' = 'datagen', 'number-of-rows' = '1');
             CREATE TABLE o (k BIGINT, x BIGINT, y BIGINT) WITH ('connector' = 'blackhole');
             INSERT INTO o {select};"
        );
        Session::new(Configuration::new()).explain_script(&sql, &Arc::new(JobMetrics::default()))
    }

    #[test]
    fn aggregates_over_one_time_ordered_window_plan_an_over_aggregate() {
        let text = explain(
            "SELECT k, SUM(v) OVER w, MAX(v) OVER w FROM a
             WINDOW w AS (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '2' SECOND PRECEDING AND CURRENT ROW)",
        )
        .unwrap();
        assert!(
            text.contains(
                "OverAggregate: partitionBy=[k@0], orderBy=[ts ASC], \
                 window=[RANG BETWEEN 2000 PRECEDING AND CURRENT ROW], select=[SUM(v@1), MAX(v@1)]"
            ),
            "{text}"
        );
    }

    #[test]
    fn flinks_restrictions_are_planning_errors() {
        let two_windows = explain(
            "SELECT k, SUM(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW),
                    SUM(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM a",
        )
        .unwrap_err()
        .to_string();
        assert!(
            two_windows.contains("All aggregates must be computed on the same window"),
            "{two_windows}"
        );
        let by_value = explain(
            "SELECT k, SUM(v) OVER (PARTITION BY k ORDER BY v ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), 0 FROM a",
        )
        .unwrap_err()
        .to_string();
        assert!(
            by_value.contains("must be defined on a time attribute"),
            "{by_value}"
        );
    }

    #[test]
    fn over_an_updating_input_rows_frames_run_as_a_retracting_over_aggregate() {
        let counts = "(SELECT k, COUNT(*) AS c, MAX(v) AS m FROM a GROUP BY k)";
        let text = explain(&format!(
            "SELECT k, c, SUM(m) OVER (ORDER BY c DESC ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
             FROM {counts}"
        ))
        .unwrap();
        assert!(
            text.contains("OverAggregate: strategy=[Retract], partitionBy=[], orderBy=[c@1 DESC]"),
            "{text}"
        );
        let e = explain(&format!(
            "SELECT k, c, SUM(m) OVER (ORDER BY c RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
             FROM {counts}"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("RANGE frame over an updating input"), "{e}");
    }
}
