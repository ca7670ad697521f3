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
use datafusion_expr::{Expr, ExprSchemable, Extension, LogicalPlan};
use datafusion_optimizer::analyzer::Analyzer;
use datafusion_optimizer::optimizer::{Optimizer, OptimizerContext, OptimizerRule};
use datafusion_sql::planner::{ParserOptions, PlannerContext, SqlToRel};
use datafusion_sql::sqlparser::ast::{Spanned, Statement as SqlStatement};
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
    /// The session time zone's offset (ms) the catalog's current-time
    /// functions were built for.
    time_zone_offset_ms: i64,
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
    /// Its `STATE_TTL` hints.
    pub hints: crate::hints::StateTtlHints,
}

impl Session {
    /// A session with the given configuration.
    pub fn new(config: Configuration) -> Self {
        let mut session = Session {
            initial: config.clone(),
            config,
            resolved: None,
            catalog: Catalog::new(),
            collector: None,
            time_zone_offset_ms: 0,
        };
        session.follow_time_zone();
        session
    }

    /// A session that plans with a job configuration resolved before (the
    /// JobManager's, shipped in a deployment): the script's `SET`s were part
    /// of that resolution, so they change nothing here, and the TaskManager
    /// plans with exactly the values the JobManager planned with.
    pub fn with_resolved(config: Arc<JobConfig>) -> Self {
        let mut session = Session {
            resolved: Some(config),
            ..Session::new(Configuration::new())
        };
        session.follow_time_zone();
        session
    }

    /// The session time zone (`table.local-time-zone`) as an offset from
    /// UTC in ms; UTC while the configured value is invalid (resolving the
    /// job's configuration reports that).
    fn local_time_zone_offset_ms(&self) -> i64 {
        match &self.resolved {
            Some(c) => c.execution.local_time_zone_offset_ms,
            None => self
                .config
                .text(riffle_common::config::LOCAL_TIME_ZONE)
                .ok()
                .and_then(|zone| riffle_common::config::parse::time_zone_offset_ms(&zone).ok())
                .unwrap_or(0),
        }
    }

    /// Builds the current-time functions (`LOCALTIMESTAMP`, `CURRENT_DATE`,
    /// ...) for the session time zone when it changed: they compute local
    /// values with it.
    fn follow_time_zone(&mut self) {
        let offset = self.local_time_zone_offset_ms();
        if offset != self.time_zone_offset_ms {
            for f in riffle_functions::current_time_functions(offset) {
                self.catalog.add_function(f);
            }
            self.time_zone_offset_ms = offset;
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
    ///
    /// Parsing and planning run on the planner's thread (see
    /// [`crate::stack`]): whatever the script, the calling thread's stack is
    /// not at risk.
    pub fn run_script(&mut self, sql: &str, metrics: &Arc<JobMetrics>) -> Result<Script> {
        crate::stack::on_planner_stack(|| self.run_script_here(sql, metrics))
    }

    /// Runs a whole script in this session and returns its outcome,
    /// consuming the session: the one entry for planning a job (the
    /// JobManager's submission, the TaskManager's deployment). Parsing,
    /// planning and dropping the session's catalog (views hold whole
    /// plans) all happen on the planner's thread.
    pub fn plan(self, sql: &str, metrics: &Arc<JobMetrics>) -> Result<Script> {
        let mut session = self;
        crate::stack::on_planner_stack(move || {
            let script = session.run_script_here(sql, metrics);
            drop(session);
            script
        })
    }

    fn run_script_here(&mut self, sql: &str, metrics: &Arc<JobMetrics>) -> Result<Script> {
        let statements = parse_statements(sql)?;
        if statements.is_empty() {
            return Err(Error::plan(crate::statements::EMPTY_SCRIPT));
        }
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
        crate::stack::on_planner_stack(|| self.explain_script_here(sql, metrics))
    }

    fn explain_script_here(&mut self, sql: &str, metrics: &Arc<JobMetrics>) -> Result<String> {
        let statements = parse_statements(sql)?;
        if statements.is_empty() {
            return Err(Error::plan(crate::statements::EMPTY_SCRIPT));
        }
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
                self.follow_time_zone();
            }
            // As in Flink: back to the session's initial configuration.
            Statement::Reset(None) => {
                self.config = self.initial.clone();
                self.follow_time_zone();
            }
            Statement::Reset(Some(k)) => {
                match self.initial.entry(&k) {
                    Some(e) => self.config.set_from(k, e.value.clone(), e.origin.clone()),
                    None => self.config.remove(&k),
                }
                self.follow_time_zone();
            }
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
                    crate::connectors::connector_for(&table.descriptor()).map_err(|e| {
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
                let stmt = SqlStatement::Query(q);
                let hints =
                    crate::hints::StateTtlHints::collect(&stmt).map_err(|e| e.at(location))?;
                let plan = self.plan_sql(stmt, location)?;
                sinks.push(PlannedSink {
                    table: None,
                    plan,
                    location: st.location,
                    hints,
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
                ColumnDef::Metadata { field, .. } => exprs.push(Expr::Column(
                    datafusion_common::Column::new(Some(table.name.clone()), field.name()),
                )),
            }
        }
        let projected = LogicalPlanBuilder::from(scan).project(exprs)?.build()?;
        let plan = match &table.ddl.watermark {
            None => projected,
            Some((col, wm)) => {
                let schema: &DFSchema = projected.schema();
                // Flink refuses both at CREATE TABLE; unchecked, a STRING
                // column fails the job at run time and a BIGINT is silently
                // taken as epoch milliseconds. (A physical column was
                // checked with the DDL, a computed one only has a type now.)
                let fail = |span: datafusion_sql::sqlparser::tokenizer::Span, message| {
                    let at = span.start;
                    Error::Plan {
                        location: (at.line > 0).then_some((at.line, at.column)),
                        message,
                    }
                };
                if let Ok(field) = schema.field_with_unqualified_name(&col.value)
                    && !crate::catalog::is_rowtime_type(field.data_type())
                {
                    return Err(fail(
                        col.span,
                        crate::catalog::rowtime_type_error(
                            &table.name,
                            &col.value,
                            field.data_type(),
                        ),
                    ));
                }
                let expr = planner.sql_to_expr(wm.clone(), schema, &mut PlannerContext::new())?;
                let wm_type = expr.get_type(schema)?;
                if !crate::catalog::is_rowtime_type(&wm_type) {
                    return Err(fail(
                        wm.span(),
                        crate::catalog::watermark_type_error(&table.name, &col.value, &wm_type),
                    ));
                }
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
        let hints =
            crate::hints::StateTtlHints::collect(&stmt).map_err(|e| e.at(Some(location)))?;
        if table.writes_fewer_columns()
            && let Ok(mut t) = self.catalog.insert_target.lock()
        {
            *t = Some(target.clone());
        }
        let plan = self.sql_to_plan(stmt, Some(location));
        if let Ok(mut t) = self.catalog.insert_target.lock() {
            *t = None;
        }
        let plan = plan?;
        // Flink's rule for what may be written into a sink, checked before
        // DataFusion's analyzer would cast anything into anything.
        crate::sink_types::check_insert(&plan, &target, Some(location))?;
        let plan = self.optimize(plan, Some(location))?;
        // The DML node's input is what the sink receives.
        let input = match plan {
            LogicalPlan::Dml(dml) => Arc::unwrap_or_clone(dml.input),
            other => other,
        };
        Ok(PlannedSink {
            table: Some(table),
            plan: input,
            location,
            hints,
        })
    }

    /// Plans, analyzes and optimizes one statement.
    pub(crate) fn plan_sql(
        &self,
        stmt: SqlStatement,
        location: Option<(u64, u64)>,
    ) -> Result<LogicalPlan> {
        let plan = self.sql_to_plan(stmt, location)?;
        self.optimize(plan, location)
    }

    /// Plans one statement as DataFusion's SQL planner does (no type
    /// coercion yet), after Flink's naming and window rewrites.
    fn sql_to_plan(&self, stmt: SqlStatement, location: Option<(u64, u64)>) -> Result<LogicalPlan> {
        if let Ok(mut m) = self.catalog.missing.lock() {
            m.clear();
        }
        let mut stmt = stmt;
        // Names first: an unaliased TUMBLE_START(...) is EXPR$n in Flink,
        // not the window column the rewrite puts in its place.
        crate::naming::apply(&mut stmt);
        crate::legacy_window::apply(&mut stmt)
            .map_err(|message| Error::Plan { location, message })?;
        let planner = SqlToRel::new_with_options(&self.catalog, Self::parser_options());
        let plan = planner
            .sql_statement_to_plan(stmt.clone())
            .map_err(|e| self.locate(Error::from(e), &stmt, location))?;
        crate::depth::check_plan(&plan, location)?;
        Ok(plan)
    }

    /// Analyzes (type coercion) and optimizes a planned statement.
    fn optimize(&self, plan: LogicalPlan, location: Option<(u64, u64)>) -> Result<LogicalPlan> {
        let analyzed = Analyzer::new()
            .execute_and_check(plan, &self.catalog.options, |_, _| {})
            .map_err(|e| Error::from(e).at(location))?;
        let analyzed = crate::temporal_join::mark_temporal_joins(analyzed)?;
        let rules: Vec<Arc<dyn OptimizerRule + Send + Sync>> = vec![
            Arc::new(datafusion_optimizer::simplify_expressions::SimplifyExpressions::new()),
            // SELECT DISTINCT (and UNION without ALL) as a group aggregate
            // over every column, as Flink plans it.
            Arc::new(
                datafusion_optimizer::replace_distinct_aggregate::ReplaceDistinctWithAggregate::new(
                ),
            ),
            // IN / EXISTS subqueries as SEMI and ANTI joins.
            Arc::new(
                datafusion_optimizer::decorrelate_predicate_subquery::DecorrelatePredicateSubquery::new(),
            ),
            Arc::new(datafusion_optimizer::optimize_projections::OptimizeProjections::new()),
            // Conditions move down through projections and into joins (a
            // join then keeps only the rows its conditions let through, as
            // in Flink); extension nodes stop them (their default).
            Arc::new(datafusion_optimizer::push_down_filter::PushDownFilter::new()),
        ];
        let ctx = OptimizerContext::new().with_max_passes(2);
        Optimizer::with_rules(rules)
            .optimize(analyzed, &ctx, |_, _| {})
            .map_err(|e| crate::sink_types::constant_cast_error(Error::from(e)).at(location))
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

    fn plan_err(sql: &str) -> String {
        Session::new(Configuration::new())
            .run_script(sql, &Arc::new(JobMetrics::default()))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }

    const TYPED: &str = "CREATE TABLE src (id BIGINT, i INT, name STRING, ts TIMESTAMP(3))
            WITH ('connector' = 'datagen', 'number-of-rows' = '1');
        CREATE TABLE k (v INT) WITH ('connector' = 'blackhole');
        CREATE TABLE kb (v BIGINT) WITH ('connector' = 'blackhole');
        CREATE TABLE kd (v DATE) WITH ('connector' = 'blackhole');";

    /// A table with computed columns and a watermark is written through its
    /// physical columns (Nexmark's `INSERT INTO kafka SELECT event_type,
    /// person, auction, bid FROM datagen`), and read with the others.
    #[test]
    fn an_insert_writes_the_physical_columns_of_a_table_with_computed_ones() {
        let script = "CREATE TABLE src (id BIGINT, ts TIMESTAMP(3))
                WITH ('connector' = 'datagen', 'number-of-rows' = '1');
            CREATE TABLE t (id BIGINT, ts TIMESTAMP(3), twice AS id * 2,
                WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
                WITH ('connector' = 'blackhole');
            CREATE TABLE u (id BIGINT, twice BIGINT) WITH ('connector' = 'blackhole');
            INSERT INTO t SELECT id, ts FROM src;";
        let mut session = Session::new(Configuration::new());
        session
            .run_script(script, &Arc::new(JobMetrics::default()))
            .expect("the insert plans");
        let e = plan_err(&script.replace(
            "SELECT id, ts FROM src",
            "SELECT id, ts, id * 2 AS d FROM src",
        ));
        assert!(e.contains("Column count doesn't match"), "{e}");
    }

    /// Issue 15, case 8: what Flink refuses to write into a sink is refused
    /// at planning, with Flink's message; what Flink casts implicitly plans.
    #[test]
    fn inserts_follow_flinks_implicit_casts() {
        for insert in [
            "INSERT INTO kb SELECT i FROM src",
            "INSERT INTO k SELECT 1 FROM src",
            "INSERT INTO k SELECT -2147483648 FROM src",
            "INSERT INTO k SELECT i * 2 + 1 FROM src",
            "INSERT INTO k SELECT NULL FROM src",
            "INSERT INTO kb SELECT COUNT(*) FROM src GROUP BY i",
            "INSERT INTO kd SELECT ts FROM src",
            "INSERT INTO k SELECT CAST(id AS INT) FROM src",
        ] {
            let mut session = Session::new(Configuration::new());
            if let Err(e) = session.run_script(
                &format!("{TYPED}\n{insert};"),
                &Arc::new(JobMetrics::default()),
            ) {
                panic!("{insert}: {e}");
            }
        }
        let e = plan_err(&format!("{TYPED}\nINSERT INTO kb SELECT name FROM src;"));
        assert!(
            e.starts_with(
                "SQL validation error at 6:1: Column types of query result and sink for \
                 'default_catalog.default_database.kb' do not match.\n\
                 Cause: Incompatible types for sink column 'v' at position 0.\n\n\
                 Query schema: [name: STRING]\n\
                 Sink schema:  [v: BIGINT]"
            ),
            "{e}"
        );
        for (insert, query_schema) in [
            (
                "INSERT INTO k SELECT 3000000000 FROM src",
                "[EXPR$0: BIGINT NOT NULL]",
            ),
            ("INSERT INTO k SELECT id FROM src", "[id: BIGINT]"),
            ("INSERT INTO k SELECT id + 1 FROM src", "[EXPR$0: BIGINT]"),
            (
                "INSERT INTO k SELECT COUNT(*) FROM src GROUP BY i",
                "[EXPR$0: BIGINT]",
            ),
            ("INSERT INTO kd SELECT i FROM src", "[i: INT]"),
        ] {
            let e = plan_err(&format!("{TYPED}\n{insert};"));
            assert!(e.contains("do not match"), "{insert}: {e}");
            assert!(
                e.contains(&format!("Query schema: {query_schema}")),
                "{insert}: {e}"
            );
        }
        // A constant cast that cannot succeed would fail every row.
        let e = plan_err(&format!(
            "{TYPED}\nINSERT INTO kb SELECT id + CAST(3000000000 AS INT) FROM src;"
        ));
        assert!(
            e.contains("a constant in the statement cannot be cast")
                && e.contains("3000000000 to type INT"),
            "{e}"
        );
    }

    /// Issue 15, case 9: unaliased expressions are named EXPR$<position>
    /// as in Flink, so a cast beside its column is no duplicate.
    #[test]
    fn unaliased_expressions_get_flinks_names() {
        let mut session = Session::new(Configuration::new());
        let s = script(
            &mut session,
            &format!("{TYPED}\nSELECT CAST(name AS INT), name, i + 1, src.id FROM src;"),
        );
        assert_eq!(
            s.query_columns,
            vec![vec!["EXPR$0", "name", "EXPR$2", "id"]]
        );
    }

    /// Issue 15, case 13: the current-time functions stay calls (volatile,
    /// never folded into the planning instant), with Flink's types, and the
    /// local ones follow `table.local-time-zone`.
    #[test]
    fn current_time_functions_are_evaluated_per_row_in_the_session_zone() {
        let sql = format!(
            "SET 'table.local-time-zone' = '+08:00';\n{TYPED}\n\
             CREATE TABLE times (a TIMESTAMP_LTZ(3), b TIMESTAMP_LTZ(3), c TIMESTAMP(3), d DATE,
                 e TIME, f TIME, g TIMESTAMP_LTZ(3)) WITH ('connector' = 'blackhole');
             INSERT INTO times SELECT CURRENT_TIMESTAMP, NOW(), LOCALTIMESTAMP, CURRENT_DATE,
                 CURRENT_TIME, LOCALTIME, CURRENT_ROW_TIMESTAMP() FROM src;"
        );
        let mut session = Session::new(Configuration::new());
        let text = session
            .explain_script(&sql, &Arc::new(JobMetrics::default()))
            .unwrap();
        for call in [
            "current_timestamp()",
            "localtimestamp()",
            "current_date()",
            "current_time()",
        ] {
            assert!(text.contains(call), "{call} folded away:\n{text}");
        }
        // LOCALTIMESTAMP is 8 hours ahead of CURRENT_TIMESTAMP here.
        let eval = |name: &str| -> i64 {
            use datafusion_expr::{ColumnarValue, ScalarFunctionArgs};
            let f = &session.catalog.functions[name];
            let out = f
                .invoke_with_args(ScalarFunctionArgs {
                    args: vec![],
                    arg_fields: vec![],
                    number_rows: 1,
                    return_field: Arc::new(arrow::datatypes::Field::new(
                        "t",
                        f.return_type(&[]).unwrap(),
                        false,
                    )),
                    config_options: Arc::new(Default::default()),
                })
                .unwrap();
            let ColumnarValue::Array(a) = out else {
                panic!("{name}: not an array")
            };
            a.as_any()
                .downcast_ref::<arrow::array::TimestampMillisecondArray>()
                .unwrap()
                .value(0)
        };
        let ahead = eval("localtimestamp") - eval("now");
        assert!(
            (ahead - 8 * 3_600_000).abs() < 60_000,
            "LOCALTIMESTAMP is {ahead} ms ahead"
        );
    }

    /// Issue 15, case 10: a script without statements is an error, the
    /// same one wherever it runs.
    #[test]
    fn an_empty_script_is_an_error() {
        for sql in ["", "-- only a comment\n", " ;\n; /* c */"] {
            assert_eq!(
                plan_err(sql),
                "SQL validation error: the script holds no statement to run"
            );
        }
    }
}
