//! A SQL session: runs statements in order against a catalog and a
//! configuration, and turns the INSERTs of a script into one job graph.
//!
//! Flow for an INSERT: sqlparser AST → DataFusion `SqlToRel` (with our
//! catalog as context provider) → DataFusion analyzer (type coercion) → a
//! short list of optimizer rules that are safe for streams (expression
//! simplification, projection pruning) → [`crate::physical`], which maps the
//! logical plan onto runtime operators and exchanges.

use std::sync::Arc;

use datafusion_common::DFSchema;
use datafusion_expr::logical_plan::builder::LogicalPlanBuilder;
use datafusion_expr::{Expr, Extension, LogicalPlan};
use datafusion_optimizer::analyzer::Analyzer;
use datafusion_optimizer::optimizer::{Optimizer, OptimizerContext, OptimizerRule};
use datafusion_sql::planner::{ParserOptions, PlannerContext, SqlToRel};
use datafusion_sql::sqlparser::ast::Statement as SqlStatement;
use riffle_common::config::{Configuration, JobConfig, Origin};
use riffle_runtime::JobGraph;
use riffle_runtime::metrics::JobMetrics;

use crate::catalog::{Catalog, CatalogTable, PhysicalTableSource, ViewSource};
use crate::ddl::ColumnDef;
use crate::nodes::WatermarkNode;
use crate::statements::{Located, Statement, parse_statements};
use crate::{Error, Result};

/// The outcome of running a script.
#[derive(Debug)]
pub struct Script {
    /// The job formed by the script's INSERTs (and bare queries), if any.
    pub job: Option<JobGraph>,
    /// Text produced by `EXPLAIN` and `SET` (listing) statements.
    pub messages: Vec<String>,
    /// Column names of each bare query, in order (the SQL client's headers).
    pub query_columns: Vec<Vec<String>>,
}

/// A session: configuration plus catalog.
#[derive(Debug)]
pub struct Session {
    /// The collected configuration: what the session started with, then the
    /// script's `SET` statements.
    pub config: Configuration,
    /// What the session started with, for `RESET`.
    initial: Configuration,
    /// A job configuration resolved elsewhere (a deployment's, on a
    /// TaskManager): planning uses it instead of resolving `config`.
    resolved: Option<Arc<JobConfig>>,
    /// Tables, views and functions.
    pub catalog: Catalog,
    /// Where bare queries send their rows when a client fetches them (the
    /// SQL client's `SELECT`); without one they go to the `print` sink.
    pub collector: Option<Arc<riffle_connectors::collect::CollectBuffer>>,
}

/// One planned INSERT (or bare query) waiting to become part of the job.
#[derive(Debug, Clone)]
pub(crate) struct PlannedSink {
    /// The sink table, or `None` for a bare query printed to the terminal.
    pub table: Option<Arc<CatalogTable>>,
    /// The optimized logical plan of the rows to write.
    pub plan: LogicalPlan,
    /// Where the statement starts.
    pub location: (u64, u64),
}

impl Session {
    /// A session with the given configuration.
    pub fn new(config: Configuration) -> Self {
        Session {
            initial: config.clone(),
            config,
            resolved: None,
            catalog: Catalog::new(),
            collector: None,
        }
    }

    /// A session that plans with a job configuration resolved before (the
    /// JobManager's, shipped in a deployment): the script's `SET`s were part
    /// of that resolution, so they change nothing here, and the TaskManager
    /// plans with exactly the values the JobManager planned with.
    pub fn with_resolved(config: Arc<JobConfig>) -> Self {
        Session {
            resolved: Some(config),
            ..Session::new(Configuration::new())
        }
    }

    /// The job configuration: the one given to [`Session::with_resolved`],
    /// else the collected configuration resolved now. Call once per job.
    pub fn job_config(&self) -> Result<Arc<JobConfig>> {
        match &self.resolved {
            Some(c) => Ok(Arc::clone(c)),
            None => Ok(Arc::new(JobConfig::resolve(&self.config)?)),
        }
    }

    fn parser_options() -> ParserOptions {
        ParserOptions {
            parse_float_as_decimal: true,
            enable_ident_normalization: false,
            support_varchar_with_length: true,
            enable_options_value_normalization: false,
            collect_spans: true,
            map_string_types_to_utf8view: false,
            ..ParserOptions::default()
        }
    }

    /// Runs a whole script; the INSERTs form one job.
    pub fn run_script(&mut self, sql: &str, metrics: &Arc<JobMetrics>) -> Result<Script> {
        let statements = parse_statements(sql)?;
        let mut sinks = Vec::new();
        let mut messages = Vec::new();
        for st in statements {
            self.execute(st, &mut sinks, &mut messages, metrics)?;
        }
        let query_columns = sinks
            .iter()
            .filter(|s| s.table.is_none())
            .map(|s| {
                s.plan
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect()
            })
            .collect();
        let job = if sinks.is_empty() {
            None
        } else {
            Some(crate::physical::build_job(self, &sinks, metrics)?)
        };
        Ok(Script {
            job,
            messages,
            query_columns,
        })
    }

    /// Runs a script's statements and describes, instead of running, its
    /// job: the optimized logical plan of every INSERT and the job graph.
    pub fn explain_script(&mut self, sql: &str, metrics: &Arc<JobMetrics>) -> Result<String> {
        let statements = parse_statements(sql)?;
        let mut sinks = Vec::new();
        let mut messages = Vec::new();
        for st in statements {
            self.execute(st, &mut sinks, &mut messages, metrics)?;
        }
        let mut text = messages.join("\n");
        text.push_str(&self.explain_plans(&sinks, metrics)?);
        Ok(text)
    }

    /// The EXPLAIN text of planned sinks: each optimized logical plan, then
    /// the job graph. Literals read as Flink SQL writes them (DataFusion
    /// prints intervals and timestamps in Rust's debug format).
    fn explain_plans(&self, sinks: &[PlannedSink], metrics: &Arc<JobMetrics>) -> Result<String> {
        let mut text = String::new();
        for p in sinks {
            text.push_str("== Optimized Logical Plan ==\n");
            text.push_str(&riffle_runtime::display::readable_literals(&format!(
                "{}\n",
                p.plan.display_indent()
            )));
        }
        if !sinks.is_empty() {
            let job = crate::physical::build_job(self, sinks, metrics)?;
            text.push_str("\n== Physical Execution Plan ==\n");
            text.push_str(&job.explain());
        }
        Ok(text)
    }

    fn execute(
        &mut self,
        st: Located,
        sinks: &mut Vec<PlannedSink>,
        messages: &mut Vec<String>,
        metrics: &Arc<JobMetrics>,
    ) -> Result<()> {
        let location = Some(st.location);
        match st.statement {
            Statement::Set(None) => {
                let lines: Vec<String> = self
                    .config
                    .entries()
                    .map(|(k, v)| format!("'{k}' = '{v}'"))
                    .collect();
                messages.push(lines.join("\n"));
            }
            Statement::Set(Some((k, v))) => {
                let (line, column) = st.location;
                self.config
                    .set_from(k.clone(), v, Origin::Set { line, column });
                if let Some(warning) = self.config.warning_for(&k) {
                    tracing::warn!("{warning}");
                }
            }
            // As in Flink: back to the session's initial configuration.
            Statement::Reset(None) => self.config = self.initial.clone(),
            Statement::Reset(Some(k)) => match self.initial.entry(&k) {
                Some(e) => self.config.set_from(k, e.value.clone(), e.origin.clone()),
                None => self.config.remove(&k),
            },
            Statement::CreateTable(ddl) => {
                let table = Arc::new(CatalogTable::try_new(*ddl)?);
                if self.catalog.sources.contains_key(&table.name) {
                    if table.ddl.if_not_exists {
                        return Ok(());
                    }
                    return Err(Error::Plan {
                        location,
                        message: format!("Object '{}' already exists", table.name),
                    });
                }
                let connector =
                    riffle_connectors::connector_for(&table.descriptor()).map_err(|e| {
                        Error::Plan {
                            location,
                            message: e.to_string(),
                        }
                    })?;
                connector
                    .validate(&table.descriptor())
                    .map_err(|e| Error::Plan {
                        location,
                        message: e.to_string(),
                    })?;
                let source = self.table_source(&table).map_err(|e| e.at(location))?;
                self.catalog
                    .tables
                    .insert(table.name.clone(), Arc::clone(&table));
                self.catalog.sources.insert(table.name.clone(), source);
            }
            Statement::CreateView {
                name,
                columns,
                query,
                if_not_exists,
            } => {
                let view_name = name.to_string().trim_matches('`').to_string();
                if self.catalog.sources.contains_key(&view_name) {
                    if if_not_exists {
                        return Ok(());
                    }
                    return Err(Error::Plan {
                        location,
                        message: format!("Object '{view_name}' already exists"),
                    });
                }
                let plan = self.plan_sql(SqlStatement::Query(query), location)?;
                let plan = if columns.is_empty() {
                    plan
                } else {
                    let exprs: Vec<Expr> = plan
                        .schema()
                        .columns()
                        .into_iter()
                        .zip(&columns)
                        .map(|(c, n)| Expr::Column(c).alias(n.value.clone()))
                        .collect();
                    LogicalPlanBuilder::from(plan).project(exprs)?.build()?
                };
                self.catalog
                    .sources
                    .insert(view_name, Arc::new(ViewSource { plan }));
            }
            Statement::CreateFunction {
                name,
                identifier,
                if_not_exists,
            } => {
                let key = name.to_ascii_lowercase();
                if self.catalog.functions.contains_key(&key) && if_not_exists {
                    return Ok(());
                }
                let f = riffle_functions::user_function_by_identifier(&identifier).ok_or_else(|| Error::Plan {
                    location,
                    message: format!(
                        "cannot create function '{name}': no function '{identifier}' is compiled into this binary (available: {})",
                        riffle_functions::user_function_identifiers().join(", ")
                    ),
                })?;
                let f = riffle_functions::rename_function(&f, &name);
                self.catalog.functions.insert(key, f);
            }
            Statement::ShowTables => {
                let rows: Vec<Vec<String>> = self
                    .catalog
                    .object_names()
                    .into_iter()
                    .map(|n| vec![n])
                    .collect();
                messages.push(crate::tableau::render(&["table name"], &rows));
            }
            Statement::Describe(name) => {
                let n = name.to_string().trim_matches('`').to_string();
                let source = self.catalog.sources.get(&n).ok_or_else(|| Error::Plan {
                    location,
                    message: format!("table or view '{n}' does not exist"),
                })?;
                let rows: Vec<Vec<String>> = source
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| {
                        vec![
                            f.name().clone(),
                            crate::ddl::flink_type_name(f.data_type()),
                            if f.is_nullable() { "TRUE" } else { "FALSE" }.to_string(),
                        ]
                    })
                    .collect();
                messages.push(crate::tableau::render(&["name", "type", "null"], &rows));
            }
            Statement::Drop {
                kind,
                name,
                if_exists,
            } => {
                let n = name.to_string().trim_matches('`').to_string();
                let removed = match kind {
                    "function" => self
                        .catalog
                        .functions
                        .remove(&n.to_ascii_lowercase())
                        .is_some(),
                    _ => {
                        self.catalog.tables.remove(&n);
                        self.catalog.sources.remove(&n).is_some()
                    }
                };
                if !removed && !if_exists {
                    return Err(Error::Plan {
                        location,
                        message: format!("{kind} '{n}' does not exist"),
                    });
                }
            }
            Statement::Insert(stmt) => sinks.push(self.plan_insert(*stmt, st.location)?),
            Statement::StatementSet(inserts) => {
                for i in inserts {
                    if let Statement::Insert(stmt) = i.statement {
                        sinks.push(self.plan_insert(*stmt, i.location)?);
                    }
                }
            }
            Statement::Query(q) => {
                let plan = self.plan_sql(SqlStatement::Query(q), location)?;
                sinks.push(PlannedSink {
                    table: None,
                    plan,
                    location: st.location,
                });
            }
            Statement::Explain(inner) => {
                let mut planned = Vec::new();
                let mut ignored = Vec::new();
                self.execute(*inner, &mut planned, &mut ignored, metrics)?;
                messages.push(self.explain_plans(&planned, metrics)?);
            }
        }
        Ok(())
    }

    /// The planning-time source of a table: its physical scan, wrapped in an
    /// inline view when it has computed columns or a watermark.
    fn table_source(
        &self,
        table: &Arc<CatalogTable>,
    ) -> Result<Arc<dyn datafusion_expr::TableSource>> {
        let physical: Arc<dyn datafusion_expr::TableSource> = Arc::new(PhysicalTableSource {
            table: Arc::clone(table),
        });
        if !table.needs_view() {
            return Ok(physical);
        }
        let scan = LogicalPlanBuilder::scan(table.name.clone(), physical, None)?.build()?;
        let scan_schema = Arc::clone(scan.schema());
        let planner = SqlToRel::new_with_options(&self.catalog, Self::parser_options());
        let mut exprs = Vec::new();
        for c in &table.ddl.columns {
            match c {
                ColumnDef::Physical(f) => exprs.push(Expr::Column(datafusion_common::Column::new(
                    Some(table.name.clone()),
                    f.name(),
                ))),
                ColumnDef::Computed { name, expr } => {
                    let e = planner.sql_to_expr(
                        expr.as_ref().clone(),
                        &scan_schema,
                        &mut PlannerContext::new(),
                    )?;
                    exprs.push(e.alias(name.clone()));
                }
                ColumnDef::Metadata(_) => {}
            }
        }
        let projected = LogicalPlanBuilder::from(scan).project(exprs)?.build()?;
        let plan = match &table.ddl.watermark {
            None => projected,
            Some((col, wm)) => {
                let schema: &DFSchema = projected.schema();
                let expr = planner.sql_to_expr(wm.clone(), schema, &mut PlannerContext::new())?;
                LogicalPlan::Extension(Extension {
                    node: Arc::new(WatermarkNode {
                        input: projected,
                        rowtime: col.value.clone(),
                        expr,
                    }),
                })
            }
        };
        Ok(Arc::new(ViewSource { plan }))
    }

    fn plan_insert(&self, stmt: SqlStatement, location: (u64, u64)) -> Result<PlannedSink> {
        let SqlStatement::Insert(insert) = &stmt else {
            return Err(Error::plan("expected INSERT"));
        };
        let target = insert.table.to_string().trim_matches('`').to_string();
        let table = self.catalog.tables.get(&target).cloned().ok_or_else(|| Error::Plan {
            location: Some(location),
            message: format!(
                "Object '{target}' not found; INSERT needs a table created with CREATE TABLE (known: {})",
                self.catalog.object_names().join(", ")
            ),
        })?;
        let plan = self.plan_sql(stmt, Some(location))?;
        // The DML node's input is what the sink receives.
        let input = match plan {
            LogicalPlan::Dml(dml) => Arc::unwrap_or_clone(dml.input),
            other => other,
        };
        Ok(PlannedSink {
            table: Some(table),
            plan: input,
            location,
        })
    }

    /// Plans, analyzes and optimizes one statement.
    pub(crate) fn plan_sql(
        &self,
        stmt: SqlStatement,
        location: Option<(u64, u64)>,
    ) -> Result<LogicalPlan> {
        if let Ok(mut m) = self.catalog.missing.lock() {
            m.clear();
        }
        let mut stmt = stmt;
        crate::legacy_window::apply(&mut stmt)
            .map_err(|message| Error::Plan { location, message })?;
        crate::naming::apply(&mut stmt);
        let planner = SqlToRel::new_with_options(&self.catalog, Self::parser_options());
        let plan = planner
            .sql_statement_to_plan(stmt.clone())
            .map_err(|e| self.locate(Error::from(e), &stmt, location))?;
        let analyzed = Analyzer::new()
            .execute_and_check(plan, &self.catalog.options, |_, _| {})
            .map_err(|e| Error::from(e).at(location))?;
        let rules: Vec<Arc<dyn OptimizerRule + Send + Sync>> = vec![
            Arc::new(datafusion_optimizer::simplify_expressions::SimplifyExpressions::new()),
            Arc::new(datafusion_optimizer::optimize_projections::OptimizeProjections::new()),
        ];
        let ctx = OptimizerContext::new().with_max_passes(2);
        Optimizer::with_rules(rules)
            .optimize(analyzed, &ctx, |_, _| {})
            .map_err(|e| Error::from(e).at(location))
    }

    /// Adds the location of a missing object to a planning error.
    fn locate(&self, err: Error, stmt: &SqlStatement, location: Option<(u64, u64)>) -> Error {
        let missing = self
            .catalog
            .missing
            .lock()
            .ok()
            .and_then(|m| m.first().cloned());
        let Some(name) = missing else {
            return err.at(location);
        };
        // Find the identifier in the statement's text spans.
        let loc = find_ident_location(stmt, &name).or(location);
        match err {
            Error::Plan { message, .. } => Error::Plan {
                location: loc,
                message,
            },
            other => other.at(loc),
        }
    }
}

/// Where an identifier first appears in a statement, via sqlparser spans.
fn find_ident_location(stmt: &SqlStatement, name: &str) -> Option<(u64, u64)> {
    use datafusion_sql::sqlparser::ast::{ObjectName, Visit, Visitor};
    use std::ops::ControlFlow;
    struct Finder<'a> {
        name: &'a str,
        found: Option<(u64, u64)>,
    }
    impl Visitor for Finder<'_> {
        type Break = ();
        fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
            if let Some(last) = relation.0.last()
                && let Some(ident) = last.as_ident()
                && ident.value == self.name
            {
                self.found = Some((ident.span.start.line, ident.span.start.column));
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut f = Finder { name, found: None };
    let _ = stmt.visit(&mut f);
    f.found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use riffle_common::RestartStrategy;
    use riffle_common::config::{CHECKPOINTING_INTERVAL, PARALLELISM_DEFAULT};

    const JOB: &str =
        "CREATE TABLE s (k BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1');
        CREATE TABLE k (k BIGINT) WITH ('connector' = 'blackhole');
        INSERT INTO k SELECT k FROM s;";

    fn script(session: &mut Session, sql: &str) -> Script {
        session
            .run_script(sql, &Arc::new(JobMetrics::default()))
            .unwrap()
    }

    #[test]
    fn set_overrides_the_session_and_reset_restores_it() {
        let mut initial = Configuration::new();
        initial.set_from(PARALLELISM_DEFAULT, "2", Origin::Dynamic);
        let mut session = Session::new(initial);
        script(
            &mut session,
            "SET 'parallelism.default' = '3';\nSET 'pipeline.name' = 'x';",
        );
        assert_eq!(session.config.get(PARALLELISM_DEFAULT), Some("3"));
        assert_eq!(
            session.config.origin_of(PARALLELISM_DEFAULT),
            Origin::Set { line: 1, column: 1 }
        );
        script(&mut session, "RESET 'parallelism.default';");
        assert_eq!(
            session.config.origin_of(PARALLELISM_DEFAULT),
            Origin::Dynamic
        );
        script(&mut session, "RESET;");
        assert_eq!(session.config.get("pipeline.name"), None);
        assert_eq!(session.config.get(PARALLELISM_DEFAULT), Some("2"));
    }

    #[test]
    fn the_job_is_planned_with_the_values_after_every_set() {
        let mut session = Session::new(Configuration::new());
        let sql = format!(
            "SET 'parallelism.default' = '3';
             SET '{CHECKPOINTING_INTERVAL}' = '1s';
             SET 'execution.checkpointing.dir' = '/tmp/chk';
             {JOB}"
        );
        let job = script(&mut session, &sql).job.unwrap();
        assert!(job.vertices.iter().all(|v| v.parallelism == 3));
        assert!(job.config.checkpointing_enabled());
        assert!(matches!(
            job.config.restart,
            RestartStrategy::ExponentialDelay(_)
        ));
    }

    #[test]
    fn a_resolved_configuration_is_not_changed_by_the_script() {
        let mut first = Session::new(Configuration::new());
        let sql = format!("SET 'parallelism.default' = '3'; {JOB}");
        let planned = script(&mut first, &sql).job.unwrap();
        // A TaskManager plans with the JobManager's resolution, whatever the
        // script says.
        let mut resolved = (*planned.config).clone();
        resolved.execution.parallelism = 2;
        let mut second = Session::with_resolved(Arc::new(resolved));
        let job = script(&mut second, &sql).job.unwrap();
        assert!(job.vertices.iter().all(|v| v.parallelism == 2));
    }

    /// EXPLAIN prints values as Flink SQL writes them, never Rust's debug
    /// format of DataFusion's literals (`IntervalMonthDayNano { .. }`,
    /// `TimestampMillisecond(.., None)`) or of the window specs.
    #[test]
    fn explain_writes_intervals_windows_and_timestamps_as_flink_sql() {
        let source = "CREATE TABLE t (id BIGINT, ts TIMESTAMP(3), ts2 TIMESTAMP(3),
                WATERMARK FOR ts AS ts - INTERVAL '4' SECOND)
            WITH ('connector' = 'datagen', 'number-of-rows' = '1');
            CREATE TABLE w (ws TIMESTAMP(3), we TIMESTAMP(3), c BIGINT) WITH ('connector' = 'blackhole');
            CREATE TABLE r (id BIGINT, ts TIMESTAMP(3)) WITH ('connector' = 'blackhole');";
        // (INSERT, in the logical plan, in the job graph)
        let cases: [(&str, &[&str], &[&str]); 3] = [
            (
                "INSERT INTO w SELECT window_start, window_end, COUNT(*)
                 FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND))
                 GROUP BY window_start, window_end;",
                &[
                    "watermark=[t.ts - INTERVAL '4' SECOND]",
                    "WindowTableFunction: window=[TUMBLE(size=[10 s])], time_col=[ts]",
                ],
                &[
                    "watermark=[ts@0 - INTERVAL '4' SECOND]",
                    "WindowTableFunction: window=[TUMBLE(size=[10 s])], time_col=[ts]",
                ],
            ),
            (
                "INSERT INTO w SELECT window_start, window_end, COUNT(*)
                 FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '1' MINUTE))
                 GROUP BY window_start, window_end;",
                &["window=[HOP(size=[1 min], slide=[2 s])]"],
                &["window=[HOP(size=[1 min], slide=[2 s])]"],
            ),
            (
                "INSERT INTO r SELECT id, ts FROM t
                 WHERE ts > ts2 - INTERVAL '1' MINUTE
                   AND ts > TIMESTAMP '2024-01-01 00:00:00' - INTERVAL '0.5' SECOND;",
                &[
                    "t.ts > t.ts2 - INTERVAL '1' MINUTE",
                    "t.ts > TIMESTAMP '2023-12-31 23:59:59.5'",
                ],
                &["ts@1 > ts2@2 - INTERVAL '1' MINUTE"],
            ),
        ];
        for (insert, logical, physical) in cases {
            for sql in [
                format!("{source}\n{insert}"),
                format!("{source}\nEXPLAIN {insert}"),
            ] {
                let text = Session::new(Configuration::new())
                    .explain_script(&sql, &Arc::new(JobMetrics::default()))
                    .unwrap();
                for debug in ["IntervalMonthDayNano", "Timestamp", "Some(", "None", " { "] {
                    assert!(!text.contains(debug), "{debug} in\n{text}");
                }
                let (plan, graph) = text.split_once("== Physical Execution Plan ==").unwrap();
                for e in logical {
                    assert!(plan.contains(e), "no {e} in\n{text}");
                }
                for e in physical {
                    assert!(graph.contains(e), "no {e} in\n{text}");
                }
            }
        }
    }

    #[test]
    fn a_bad_set_value_names_the_statement() {
        let mut session = Session::new(Configuration::new());
        let e = session
            .run_script(
                &format!("\n  SET 'parallelism.default' = 'many';\n{JOB}"),
                &Arc::new(JobMetrics::default()),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("SET at line 2, column 3"), "{e}");
    }
}
