//! From an optimized logical plan to the runtime's job graph.
//!
//! The walk is bottom-up. Each node either extends the chain of the vertex its
//! input ended in (projections, filters, watermark assignment, sinks: all
//! forward, so they chain) or starts a new vertex behind a hash exchange
//! (keyed operators, added with the stateful operators). A stream remembers
//! whether it can carry retractions and which operator makes them, so a sink
//! that only takes appends is rejected at planning time, naming that operator.

use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use datafusion_common::DFSchema;
use datafusion_expr::LogicalPlan;
use datafusion_expr::execution_props::ExecutionProps;
use datafusion_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion_physical_expr::{PhysicalExpr, create_physical_expr};
use riffle_common::config::JobConfig;
use riffle_runtime::metrics::JobMetrics;
use riffle_runtime::operators::{CalcFactory, SinkOperatorFactory, WatermarkAssignerFactory};
use riffle_runtime::{JobGraph, OperatorFactory, Partitioning, Vertex};

use crate::catalog::PhysicalTableSource;
use crate::nodes::{WatermarkNode, WindowTvfNode};
use crate::reuse::{Context, Reuse, collapse_forward_chains};
use crate::session::{PlannedSink, Session};
use crate::temporal_join::{TemporalJoinNode, TemporalTableNode};
use crate::{Error, Result};

/// Where a planned subtree ends.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    /// The vertex whose chain produces the rows.
    pub(crate) vertex: usize,
    /// The operator that makes the stream updating, if any.
    pub(crate) updates_from: Option<String>,
}

pub(crate) struct Builder {
    /// The job's configuration, resolved once for the whole build.
    pub(crate) config: Arc<JobConfig>,
    vertices: Vec<Vertex>,
    edges: Vec<riffle_runtime::Edge>,
    pub(crate) parallelism: usize,
    props: ExecutionProps,
    /// Set while planning the input of a session window aggregate: the only
    /// place a `SESSION` table function may appear.
    pub(crate) session_window_ok: bool,
    /// Set while planning the table side of a temporal join: the only place
    /// a table `FOR SYSTEM_TIME AS OF` may appear.
    pub(crate) temporal_table_ok: bool,
    /// Per vertex, the `Calc` its chain ends with (and the chain's length
    /// then), for [`Builder::push_calc`] to fuse the next one into.
    calc_tail: std::collections::HashMap<usize, (usize, CalcFactory)>,
    /// The `STATE_TTL` hints of the statement being planned.
    pub(crate) hints: crate::hints::StateTtlHints,
    /// The index of the statement (sink) being planned.
    statement: usize,
    /// The sub-plans the sinks read more than once, planned once.
    reuse: Reuse,
}

/// Builds the job of a script's sinks.
pub(crate) fn build_job(
    session: &Session,
    sinks: &[PlannedSink],
    metrics: &Arc<JobMetrics>,
) -> Result<JobGraph> {
    let config = session.job_config()?;
    let mut b = Builder {
        config: Arc::clone(&config),
        vertices: Vec::new(),
        edges: Vec::new(),
        parallelism: config.execution.parallelism,
        props: ExecutionProps::new(),
        session_window_ok: false,
        temporal_table_ok: false,
        calc_tail: std::collections::HashMap::new(),
        hints: Default::default(),
        statement: 0,
        reuse: if config.execution.reuse_sub_plans {
            Reuse::of(sinks.iter().map(|s| &s.plan))
        } else {
            Reuse::default()
        },
    };
    let mut names = Vec::new();
    for (statement, sink) in sinks.iter().enumerate() {
        b.statement = statement;
        b.hints = sink.hints.clone();
        let stream = b.plan(&sink.plan).map_err(|e| e.at(Some(sink.location)))?;
        b.hints
            .check_all_used()
            .map_err(|e| e.at(Some(sink.location)))?;
        let (name, factory) = match &sink.table {
            Some(t) => {
                let desc = t.descriptor();
                let connector = crate::connectors::connector_for(&desc)?;
                (t.name.clone(), connector.sink(&desc, &config)?)
            }
            None if let Some(buffer) = &session.collector => (
                "query".to_string(),
                Arc::new(riffle_connectors::collect::CollectSink::new(Arc::clone(
                    buffer,
                ))) as Arc<dyn riffle_runtime::connector::SinkFactory>,
            ),
            None => {
                let mut desc_opts = std::collections::BTreeMap::new();
                desc_opts.insert("connector".to_string(), "print".to_string());
                let desc = riffle_connectors::TableDescriptor {
                    name: "query".into(),
                    schema: arrow_schema(sink.plan.schema()),
                    options: desc_opts,
                    partition_keys: Vec::new(),
                    metadata: Vec::new(),
                };
                (
                    "query".to_string(),
                    crate::connectors::connector("print")?.sink(&desc, &config)?,
                )
            }
        };
        if let Some(op) = &stream.updates_from
            && !factory.accepts_updates()
        {
            return Err(Error::Plan {
                location: Some(sink.location),
                message: format!(
                    "Table sink '{name}' doesn't support consuming update changes which is produced by node {op}"
                ),
            });
        }
        let vertex = match &sink.table {
            Some(t) => b
                .sink_vertex(&stream, &t.descriptor(), &name)
                .map_err(|e| e.at(Some(sink.location)))?,
            None => stream.vertex,
        };
        let mut writers = vec![factory];
        if let Some(dir) = &config.execution.sink_tap_dir {
            writers.push(riffle_connectors::tap::tap(dir, &name));
        }
        b.push(
            vertex,
            Arc::new(SinkOperatorFactory {
                table: name.clone(),
                writers,
                metrics: Arc::clone(metrics),
            }),
        );
        names.push(name);
    }
    collapse_forward_chains(&mut b.vertices, &mut b.edges);
    let job_name = config
        .execution
        .pipeline_name
        .clone()
        .unwrap_or_else(|| format!("insert-into_{}", names.join(",")));
    Ok(JobGraph {
        name: job_name,
        vertices: b.vertices,
        edges: b.edges,
        config,
    })
}

/// A `Calc` keeping, by name, the columns of `narrow` out of `wide` (a scan
/// of every column some reader needs, narrowed for one reader).
fn pick_columns(wide: &DFSchema, narrow: &DFSchema) -> Result<CalcFactory> {
    let exprs = narrow
        .fields()
        .iter()
        .map(|f| {
            let i = wide
                .index_of_column_by_name(None, f.name())
                .ok_or_else(|| {
                    Error::plan(format!("column {} missing from the shared scan", f.name()))
                })?;
            Ok(Arc::new(datafusion_physical_expr::expressions::Column::new(
                f.name(),
                i,
            )) as Arc<dyn PhysicalExpr>)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(CalcFactory::try_new(
        None,
        Some(exprs),
        arrow_schema(narrow),
    )?)
}

pub(crate) fn arrow_schema(s: &DFSchema) -> SchemaRef {
    Arc::new(Schema::new(s.as_arrow().fields().clone()))
}

impl Builder {
    /// The state TTL of a join or aggregate input: its hint, else
    /// `table.exec.state.ttl`.
    pub(crate) fn state_ttl(&self, input: &LogicalPlan) -> Option<riffle_runtime::ttl::StateTtl> {
        let ms = self
            .hints
            .ttl_of(input)
            .unwrap_or(self.config.execution.state_ttl_ms);
        riffle_runtime::ttl::StateTtl::from_ms(ms)
    }

    /// The vertex a sink is chained onto: the input's, or a vertex of its own
    /// fed by a rebalance when the table's `sink.parallelism` differs (as in
    /// Flink, where a sink with another parallelism cannot be chained).
    fn sink_vertex(
        &mut self,
        input: &Stream,
        desc: &riffle_connectors::TableDescriptor,
        table: &str,
    ) -> Result<usize> {
        // The connectors' one parser of the option (it checked it at CREATE TABLE).
        let Some(parallelism) =
            riffle_connectors::options::OptionReader::new(desc).parallelism("sink.parallelism")?
        else {
            return Ok(input.vertex);
        };
        let parallelism = parallelism.get();
        let upstream = self
            .vertices
            .get(input.vertex)
            .map_or(self.parallelism, |v| v.parallelism);
        if parallelism == upstream {
            return Ok(input.vertex);
        }
        if let Some(op) = &input.updates_from {
            return Err(Error::plan(format!(
                "table '{table}': 'sink.parallelism' = {parallelism} differs from its input's \
                 parallelism {upstream}, but the input carries updates (from {op}) whose order \
                 would be lost; remove 'sink.parallelism'"
            )));
        }
        Ok(self.exchange_vertex(input, Partitioning::Rebalance, parallelism))
    }

    /// Starts a vertex fed from `input` through an exchange: hash by `keys`,
    /// or everything to one subtask when there are no keys.
    pub(crate) fn keyed_vertex(
        &mut self,
        input: &Stream,
        keys: Vec<Arc<dyn PhysicalExpr>>,
    ) -> usize {
        let (partitioning, parallelism) = if keys.is_empty() {
            (Partitioning::Single, 1)
        } else {
            (Partitioning::Hash(keys), self.parallelism)
        };
        self.exchange_vertex(input, partitioning, parallelism)
    }

    /// How many vertices the job has so far (the id the next one gets).
    pub(crate) fn vertex_count(&self) -> usize {
        self.vertices.len()
    }

    /// Removes the vertex added last, when no edge touches it.
    pub(crate) fn take_last_vertex(&mut self) -> Option<Vertex> {
        let id = self.vertices.len().checked_sub(1)?;
        if self.edges.iter().any(|e| e.from == id || e.to == id) {
            return None;
        }
        self.calc_tail.remove(&id);
        self.vertices.pop()
    }

    /// The parallelism of the vertex `stream` comes from.
    pub(crate) fn vertex_parallelism(&self, stream: &Stream) -> usize {
        self.vertices
            .get(stream.vertex)
            .map_or(self.parallelism, |v| v.parallelism)
    }

    /// Starts an empty vertex of `parallelism` fed from `input` through `partitioning`.
    pub(crate) fn exchange_vertex(
        &mut self,
        input: &Stream,
        partitioning: Partitioning,
        parallelism: usize,
    ) -> usize {
        let id = self.vertices.len();
        self.vertices.push(Vertex {
            id,
            name: String::new(),
            parallelism,
            source: None,
            operators: Vec::new(),
        });
        self.add_edge(input, id, 0, partitioning);
        id
    }

    /// Feeds vertex `to`'s input `input` from `from` through `partitioning`.
    pub(crate) fn add_edge(
        &mut self,
        from: &Stream,
        to: usize,
        input: usize,
        partitioning: Partitioning,
    ) {
        self.edges.push(riffle_runtime::Edge {
            from: from.vertex,
            to,
            input,
            partitioning,
        });
    }

    /// Chains a projection as a `Calc` onto `vertex`.
    pub(crate) fn push_projection(
        &mut self,
        vertex: usize,
        p: &datafusion_expr::logical_plan::Projection,
    ) -> Result<()> {
        let exprs = p
            .expr
            .iter()
            .map(|e| self.physical(e, p.input.schema()))
            .collect::<Result<Vec<_>>>()?;
        let calc = CalcFactory::try_new(None, Some(exprs), arrow_schema(&p.schema))?;
        self.push_calc(vertex, calc);
        Ok(())
    }

    /// Chains a `Calc` onto `vertex`, fused with a `Calc` the chain ends
    /// with when [`CalcFactory::fuse`] allows: one pass over each chunk, and
    /// a filter followed by a projection copies only the fields it keeps.
    pub(crate) fn push_calc(&mut self, vertex: usize, calc: CalcFactory) {
        let Some(v) = self.vertices.get_mut(vertex) else {
            return;
        };
        let fused = match self.calc_tail.get(&vertex) {
            Some((len, prev)) if *len == v.operators.len() => prev.fuse(&calc),
            _ => None,
        };
        match fused {
            Some(f) => {
                v.operators.pop();
                v.operators.push(Arc::new(f.clone()));
                self.calc_tail.insert(vertex, (v.operators.len(), f));
            }
            None => {
                self.push(vertex, Arc::new(calc.clone()));
                let len = self.vertices.get(vertex).map_or(0, |v| v.operators.len());
                self.calc_tail.insert(vertex, (len, calc));
            }
        }
    }

    pub(crate) fn push(&mut self, vertex: usize, op: Arc<dyn OperatorFactory>) {
        if let Some(v) = self.vertices.get_mut(vertex) {
            let name = op.name();
            v.name = if v.name.is_empty() {
                name
            } else {
                format!("{} -> {name}", v.name)
            };
            v.operators.push(op);
        }
    }

    pub(crate) fn physical(
        &self,
        e: &datafusion_expr::Expr,
        schema: &DFSchema,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(create_physical_expr(
            e,
            schema,
            &self.props,
            &PhysicalPlanningContext::default(),
        )?)
    }

    /// Plans `plan`, or, when the job reads it more than once, continues
    /// from where it was planned before ([`crate::reuse`]).
    pub(crate) fn plan(&mut self, plan: &LogicalPlan) -> Result<Stream> {
        if self.temporal_table_ok {
            return self.plan_node(plan);
        }
        if let LogicalPlan::TableScan(scan) = plan
            && let Some(wide) = self.reuse.widened_scan(scan)
        {
            let branch = self.plan_shared(&wide)?;
            if wide.schema().fields() != plan.schema().fields() {
                self.push_calc(branch.vertex, pick_columns(wide.schema(), plan.schema())?);
            }
            return Ok(branch);
        }
        if !self.reuse.is_shared(plan) {
            return self.plan_node(plan);
        }
        self.plan_shared(plan)
    }

    /// A branch of the stream `plan` was planned into, planning it first
    /// if it was not.
    fn plan_shared(&mut self, plan: &LogicalPlan) -> Result<Stream> {
        let context = Context {
            session_window: self.session_window_ok,
            hinted_statement: (!self.hints.is_empty()).then_some(self.statement),
        };
        let stream = match self.reuse.planned(plan, context) {
            Some(s) => s.clone(),
            None => {
                let s = self.plan_node(plan)?;
                self.reuse.record(plan, context, s.clone());
                s
            }
        };
        Ok(self.branch(&stream))
    }

    /// A vertex of its own fed by `stream`'s rows as they are (a reader of
    /// a shared stream chains its operators here).
    fn branch(&mut self, stream: &Stream) -> Stream {
        let parallelism = self.vertex_parallelism(stream);
        Stream {
            vertex: self.exchange_vertex(stream, Partitioning::Forward, parallelism),
            updates_from: stream.updates_from.clone(),
        }
    }

    fn plan_node(&mut self, plan: &LogicalPlan) -> Result<Stream> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let Some(src) = scan.source.downcast_ref::<PhysicalTableSource>() else {
                    return Err(Error::Plan {
                        location: None,
                        message: format!("table '{}' has no connector", scan.table_name),
                    });
                };
                if !scan.filters.is_empty() {
                    return Err(Error::plan("filters pushed into a scan are not supported"));
                }
                let desc = src.table.descriptor();
                let connector = crate::connectors::connector_for(&desc)?;
                let factory = connector.source(&desc, scan.projection.clone(), &self.config)?;
                // `scan.parallelism`: the source alone runs at it; its rows are
                // rebalanced to the job's parallelism, as in Flink.
                let scan_parallelism = riffle_connectors::options::OptionReader::new(&desc)
                    .parallelism("scan.parallelism")?
                    .map(|p| p.get());
                let id = self.vertices.len();
                self.vertices.push(Vertex {
                    id,
                    name: format!("Source: {}[{}]", src.table.name, connector.name()),
                    parallelism: scan_parallelism.unwrap_or(self.parallelism),
                    source: Some(factory),
                    operators: Vec::new(),
                });
                let stream = Stream {
                    vertex: id,
                    updates_from: None,
                };
                Ok(match scan_parallelism {
                    Some(p) if p != self.parallelism => Stream {
                        vertex: self.exchange_vertex(
                            &stream,
                            Partitioning::Rebalance,
                            self.parallelism,
                        ),
                        updates_from: None,
                    },
                    _ => stream,
                })
            }
            LogicalPlan::Projection(p) => {
                let input = match crate::rank::rank_filter_below(&p.input)? {
                    Some((f, rank)) => {
                        let used = p
                            .expr
                            .iter()
                            .any(|e| e.column_refs().iter().any(|c| c.name == rank.column));
                        self.plan_rank(f, rank, used)?
                    }
                    None => self.plan(&p.input)?,
                };
                self.push_projection(input.vertex, p)?;
                Ok(input)
            }
            LogicalPlan::Filter(f) => {
                // `FROM a, b WHERE ...`: the condition is the inner join's.
                if let LogicalPlan::Join(j) = f.input.as_ref()
                    && j.join_type == datafusion_expr::JoinType::Inner
                {
                    let mut inner = j.clone();
                    inner.filter = datafusion_expr::utils::conjunction(
                        j.filter.iter().cloned().chain([f.predicate.clone()]),
                    );
                    return self.plan_join(&inner);
                }
                if let Some(rank) = crate::rank::match_rank(f)? {
                    return self.plan_rank(f, rank, true);
                }
                let input = self.plan(&f.input)?;
                let pred = self.physical(&f.predicate, f.input.schema())?;
                let calc = CalcFactory::try_new(Some(pred), None, arrow_schema(f.input.schema()))?;
                self.push_calc(input.vertex, calc);
                Ok(input)
            }
            LogicalPlan::SubqueryAlias(a) => self.plan(&a.input),
            LogicalPlan::Aggregate(a) => self.plan_aggregate(a),
            LogicalPlan::Join(j) => self.plan_join(j),
            LogicalPlan::Union(u) => self.plan_union(u),
            LogicalPlan::Window(w) => self.plan_over(w),
            LogicalPlan::Extension(ext) => {
                if let Some(w) = ext.node.as_any().downcast_ref::<WindowTvfNode>() {
                    return self.plan_window_tvf(w);
                }
                if let Some(t) = ext.node.as_any().downcast_ref::<TemporalJoinNode>() {
                    return self.plan_temporal_join(t);
                }
                if let Some(t) = ext.node.as_any().downcast_ref::<TemporalTableNode>() {
                    if !self.temporal_table_ok {
                        return Err(Error::plan(format!(
                            "table {} FOR SYSTEM_TIME AS OF {} outside a join; a temporal table \
                             is the right side of a JOIN (or LEFT JOIN) with a stream",
                            t.table,
                            t.as_of.join(".")
                        )));
                    }
                    self.temporal_table_ok = false;
                    return self.plan(&t.input);
                }
                if let Some(wm) = ext.node.as_any().downcast_ref::<WatermarkNode>() {
                    let input = self.plan(&wm.input)?;
                    let schema = wm.input.schema();
                    let rowtime_index = schema
                        .fields()
                        .iter()
                        .position(|f| f.name() == &wm.rowtime)
                        .ok_or_else(|| {
                            Error::plan(format!("rowtime column '{}' was pruned", wm.rowtime))
                        })?;
                    let expr = self.physical(&wm.expr, schema)?;
                    let interval_ms = self.config.execution.auto_watermark_interval_ms;
                    self.push(
                        input.vertex,
                        Arc::new(WatermarkAssignerFactory {
                            rowtime_index,
                            rowtime_name: wm.rowtime.clone(),
                            expr,
                            interval_ms,
                        }),
                    );
                    return Ok(input);
                }
                Err(Error::unsupported(format!(
                    "plan node {} in a streaming job",
                    ext.node.name()
                )))
            }
            other => Err(Error::unsupported(format!(
                "{} is not supported in streaming jobs yet",
                riffle_runtime::display::readable_literals(&other.display().to_string())
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn graph(sink_options: &str) -> Result<JobGraph> {
        let mut config = riffle_common::config::Configuration::new();
        config.set("parallelism.default", "4");
        let mut session = Session::new(config);
        let sql = format!(
            "CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
             CREATE TABLE k (id BIGINT) WITH ('connector' = 'blackhole'{sink_options});
             INSERT INTO k SELECT id FROM src;"
        );
        let script = session.run_script(&sql, &Arc::new(JobMetrics::default()))?;
        Ok(script.job.unwrap())
    }

    #[test]
    fn a_sink_with_its_own_parallelism_gets_its_own_vertex() {
        let chained = graph("").unwrap();
        assert_eq!(chained.vertices.len(), 1);
        let same = graph(", 'sink.parallelism' = '4'").unwrap();
        assert_eq!(same.vertices.len(), 1);
        let g = graph(", 'sink.parallelism' = '1'").unwrap();
        assert_eq!(g.vertices.len(), 2);
        assert_eq!(g.vertices[1].parallelism, 1);
        assert!(
            g.vertices[1].name.starts_with("Sink"),
            "{}",
            g.vertices[1].name
        );
        assert!(matches!(g.edges[0].partitioning, Partitioning::Rebalance));
        let bad = graph(", 'sink.parallelism' = 'two'")
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("'sink.parallelism'") && bad.contains("expected an integer between 1 and"),
            "{bad}"
        );
    }

    #[test]
    fn parallelism_overrides_set_vertices_apart_but_not_global_ones() {
        let mut g = graph(", 'sink.parallelism' = '1'").unwrap();
        let id = |i: usize| format!("v{i}");
        let overrides = [("v0".to_string(), 2), ("nowhere".to_string(), 7)]
            .into_iter()
            .collect();
        assert_eq!(g.apply_parallelism_overrides(id, &overrides), Ok(vec![0]));
        assert_eq!(g.vertices[0].parallelism, 2);
        assert_eq!(g.vertices[1].parallelism, 1);
        // By index too.
        let by_index = [("0".to_string(), 3)].into_iter().collect();
        assert_eq!(g.apply_parallelism_overrides(id, &by_index), Ok(vec![0]));
        assert_eq!(g.vertices[0].parallelism, 3);

        let mut config = riffle_common::config::Configuration::new();
        config.set("parallelism.default", "2");
        let sql =
            "CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
             CREATE TABLE k (n BIGINT) WITH ('connector' = 'blackhole');
             INSERT INTO k SELECT COUNT(*) FROM src;";
        let mut g = Session::new(config)
            .run_script(sql, &Arc::new(JobMetrics::default()))
            .unwrap()
            .job
            .unwrap();
        let global = [("v1".to_string(), 2)].into_iter().collect();
        let e = g.apply_parallelism_overrides(id, &global).unwrap_err();
        assert!(e.contains("global operator"), "{e}");
    }
}
