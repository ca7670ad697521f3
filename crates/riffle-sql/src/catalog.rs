//! The catalog: tables, views and functions created by the statements so far,
//! and the DataFusion context provider that resolves names against it.
//!
//! A table with computed columns or a watermark is planned as an inline view
//! over its physical columns: `TableScan(physical) → Projection(computed) →
//! WatermarkNode`, so DataFusion coerces, prunes and explains it like any
//! other plan and the runtime sees where the watermark is assigned.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion_common::config::ConfigOptions;
use datafusion_common::{DataFusionError, TableReference};
use datafusion_expr::planner::{ExprPlanner, RelationPlanner};
use datafusion_expr::{
    AggregateUDF, HigherOrderUDF, LogicalPlan, ScalarUDF, TableSource, WindowUDF,
};
use datafusion_sql::planner::ContextProvider;
use riffle_connectors::{MetadataColumn, TableDescriptor};

use crate::ddl::{ColumnDef, CreateTable};

/// A table from `CREATE TABLE`.
#[derive(Debug, Clone)]
pub struct CatalogTable {
    /// The DDL as parsed.
    pub ddl: CreateTable,
    /// The table's name.
    pub name: String,
    /// Physical columns (what the connector reads or writes).
    pub physical: SchemaRef,
}

/// Whether `dt` may be an event-time attribute or the type of a watermark:
/// Flink's `TIMESTAMP(p)` or `TIMESTAMP_LTZ(p)` with `p` from 0 to 3.
pub(crate) fn is_rowtime_type(dt: &arrow::datatypes::DataType) -> bool {
    use arrow::datatypes::{DataType, TimeUnit};
    matches!(
        dt,
        DataType::Timestamp(TimeUnit::Second | TimeUnit::Millisecond, _)
    )
}

/// Flink's refusal of a `WATERMARK FOR` column of another type, with the
/// column and table named.
pub(crate) fn rowtime_type_error(
    table: &str,
    column: &str,
    dt: &arrow::datatypes::DataType,
) -> String {
    format!(
        "Invalid data type of time field for watermark definition. The field must be of type \
         TIMESTAMP(p) or TIMESTAMP_LTZ(p), the supported precision 'p' is from 0 to 3, but the \
         time field type is {} (watermark column '{column}' of table '{table}')",
        crate::ddl::flink_type_name(dt)
    )
}

/// Flink's refusal of a watermark expression of another type.
pub(crate) fn watermark_type_error(
    table: &str,
    column: &str,
    dt: &arrow::datatypes::DataType,
) -> String {
    format!(
        "Invalid data type of expression for watermark definition. The field must be of type \
         TIMESTAMP(p) or TIMESTAMP_LTZ(p), the supported precision 'p' is from 0 to 3, but the \
         watermark expression type is {} (WATERMARK FOR {column} of table '{table}')",
        crate::ddl::flink_type_name(dt)
    )
}

/// Flink's rules for the column of `WATERMARK FOR`, checked at `CREATE
/// TABLE` as Flink does: not a processing-time attribute, and a physical
/// column must be a `TIMESTAMP(p)` or `TIMESTAMP_LTZ(p)` with `p` up to 3.
/// A computed column's type, and the watermark expression's, are known only
/// once planned: `Session::table_source` checks them, still within `CREATE
/// TABLE`.
fn check_rowtime_column(
    table: &str,
    col: &datafusion_sql::sqlparser::ast::Ident,
    columns: &[ColumnDef],
) -> crate::Result<()> {
    use datafusion_sql::sqlparser::ast::Expr as SqlExpr;
    let location = Some((col.span.start.line, col.span.start.column));
    let fail = |message: String| Err(crate::Error::Plan { location, message });
    for c in columns {
        match c {
            ColumnDef::Computed { name, expr } if *name == col.value => {
                // `pt AS (PROCTIME())` is as much a processing-time attribute.
                let mut expr = expr.as_ref();
                while let SqlExpr::Nested(inner) = expr {
                    expr = inner.as_ref();
                }
                let is_proctime = matches!(
                    expr,
                    SqlExpr::Function(f) if f.name.to_string().eq_ignore_ascii_case("PROCTIME")
                );
                if is_proctime {
                    return fail(format!(
                        "a watermark cannot be defined for the processing-time attribute \
                         column '{name}' of table '{table}'; use an event-time column"
                    ));
                }
            }
            ColumnDef::Physical(f) | ColumnDef::Metadata { field: f, .. }
                if *f.name() == col.value && !is_rowtime_type(f.data_type()) =>
            {
                return fail(rowtime_type_error(table, f.name(), f.data_type()));
            }
            _ => {}
        }
    }
    Ok(())
}

impl CatalogTable {
    /// Builds the table and checks its columns.
    pub fn try_new(ddl: CreateTable) -> crate::Result<Self> {
        let name = ddl
            .name
            .0
            .last()
            .map(|p| p.to_string().trim_matches('`').to_string())
            .unwrap_or_default();
        let mut fields: Vec<Field> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for c in &ddl.columns {
            let n = match c {
                ColumnDef::Physical(f) => {
                    fields.push(f.clone());
                    f.name().clone()
                }
                ColumnDef::Computed { name, .. } => name.clone(),
                ColumnDef::Metadata { field, .. } => {
                    fields.push(field.clone());
                    field.name().clone()
                }
            };
            if names.contains(&n) {
                return Err(crate::Error::Plan {
                    location: Some(ddl.location),
                    message: format!("table '{name}' declares column '{n}' twice"),
                });
            }
            names.push(n);
        }
        if let Some((col, _)) = &ddl.watermark
            && !names.contains(&col.value)
        {
            return Err(crate::Error::Plan {
                location: Some((col.span.start.line, col.span.start.column)),
                message: format!(
                    "the watermark column '{}' is not a column of table '{name}'; columns: {}",
                    col.value,
                    names.join(", ")
                ),
            });
        }
        if let Some((col, _)) = &ddl.watermark {
            check_rowtime_column(&name, col, &ddl.columns)?;
        }
        let physical_names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
        for (i, key) in ddl.partitioned_by.iter().enumerate() {
            let location = Some((key.span.start.line, key.span.start.column));
            if !physical_names.contains(&key.value.as_str()) {
                let message = if names.contains(&key.value) {
                    format!(
                        "partition column '{}' of table '{name}' is a computed column; \
                         partition by physical columns: {}",
                        key.value,
                        physical_names.join(", ")
                    )
                } else {
                    format!(
                        "partition column '{}' is not a column of table '{name}'; columns: {}",
                        key.value,
                        names.join(", ")
                    )
                };
                return Err(crate::Error::Plan { location, message });
            }
            if ddl
                .partitioned_by
                .iter()
                .take(i)
                .any(|k| k.value == key.value)
            {
                return Err(crate::Error::Plan {
                    location,
                    message: format!(
                        "table '{name}' is partitioned by column '{}' twice",
                        key.value
                    ),
                });
            }
        }
        let mut ddl = ddl;
        let notes = riffle_connectors::legacy::translate(&name, &mut ddl.options).map_err(|e| {
            crate::Error::Plan {
                location: Some(ddl.location),
                message: e.to_string(),
            }
        })?;
        for note in notes {
            tracing::warn!("{note}");
        }
        Ok(CatalogTable {
            physical: Arc::new(Schema::new(fields)),
            name,
            ddl,
        })
    }

    /// What the connectors see.
    pub fn descriptor(&self) -> TableDescriptor {
        TableDescriptor {
            name: self.name.clone(),
            schema: Arc::clone(&self.physical),
            metadata: self
                .ddl
                .columns
                .iter()
                .filter_map(|c| match c {
                    ColumnDef::Metadata {
                        field,
                        key,
                        is_virtual,
                    } => Some(MetadataColumn {
                        name: field.name().clone(),
                        key: key.clone().unwrap_or_else(|| field.name().clone()),
                        is_virtual: *is_virtual,
                    }),
                    _ => None,
                })
                .collect(),
            options: self.ddl.options.clone(),
            partition_keys: self
                .ddl
                .partitioned_by
                .iter()
                .map(|k| k.value.clone())
                .collect(),
        }
    }

    /// Whether an INSERT writes other columns than a scan reads (computed
    /// or metadata columns).
    pub fn writes_fewer_columns(&self) -> bool {
        self.ddl
            .columns
            .iter()
            .any(|c| matches!(c, ColumnDef::Computed { .. } | ColumnDef::Metadata { .. }))
    }

    /// Whether the table needs the inline view (computed columns or a watermark).
    pub fn needs_view(&self) -> bool {
        self.ddl.watermark.is_some()
            || self
                .ddl
                .columns
                .iter()
                .any(|c| matches!(c, ColumnDef::Computed { .. }))
    }
}

/// The planning-time source of a physical table; the physical planner finds
/// the catalog table through it.
#[derive(Debug)]
pub struct PhysicalTableSource {
    /// The table.
    pub table: Arc<CatalogTable>,
}

impl TableSource for PhysicalTableSource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.table.physical)
    }
}

/// The target of an INSERT: the columns it writes (physical and
/// non-virtual metadata columns).
#[derive(Debug)]
pub struct InsertTargetSource {
    /// The columns written.
    pub schema: SchemaRef,
}

impl TableSource for InsertTargetSource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// A view (or a table's inline view): planning inlines its plan.
#[derive(Debug)]
pub struct ViewSource {
    /// The view's plan.
    pub plan: LogicalPlan,
}

impl TableSource for ViewSource {
    fn schema(&self) -> SchemaRef {
        Arc::new(self.plan.schema().as_arrow().clone())
    }

    fn get_logical_plan(&self) -> Option<std::borrow::Cow<'_, LogicalPlan>> {
        Some(std::borrow::Cow::Borrowed(&self.plan))
    }
}

/// Names and functions visible to a statement.
#[derive(Clone)]
pub struct Catalog {
    /// Tables by name.
    pub tables: HashMap<String, Arc<CatalogTable>>,
    /// Table and view sources by name, as planning sees them.
    pub sources: HashMap<String, Arc<dyn TableSource>>,
    /// Scalar functions by lower-case name (built-ins, Flink overrides, then user functions).
    pub functions: HashMap<String, Arc<ScalarUDF>>,
    /// Aggregate functions by lower-case name.
    pub aggregates: HashMap<String, Arc<AggregateUDF>>,
    /// Window functions by lower-case name.
    pub windows: HashMap<String, Arc<WindowUDF>>,
    /// Expression planners (field access, EXTRACT, ...).
    pub expr_planners: Vec<Arc<dyn ExprPlanner>>,
    /// Relation planners (window table functions).
    pub relation_planners: Vec<Arc<dyn RelationPlanner>>,
    /// DataFusion options.
    pub options: ConfigOptions,
    /// Names looked up and not found during the current statement (for error locations).
    pub missing: Arc<std::sync::Mutex<Vec<String>>>,
    /// The table an INSERT being planned writes to: its next lookup gives
    /// the columns it writes, not the inline view with its computed columns
    /// (Flink writes the physical and non-virtual metadata columns of a
    /// table and computes the others when reading it). Set by the INSERT's planning, taken by the
    /// planner's lookup of the target, which comes before the query's.
    pub insert_target: Arc<std::sync::Mutex<Option<String>>>,
}

fn add_udf(map: &mut HashMap<String, Arc<ScalarUDF>>, f: Arc<ScalarUDF>) {
    for alias in f.aliases() {
        map.insert(alias.to_ascii_lowercase(), Arc::clone(&f));
    }
    map.insert(f.name().to_ascii_lowercase(), f);
}

impl Catalog {
    /// A catalog with all built-in functions.
    pub fn new() -> Self {
        let mut functions = HashMap::new();
        for f in datafusion_functions::all_default_functions() {
            add_udf(&mut functions, f);
        }
        for f in datafusion_functions_nested::all_default_nested_functions() {
            add_udf(&mut functions, f);
        }
        // Flink's definitions win over DataFusion's same-named functions.
        // The current-time functions start in UTC; the session registers
        // them again for its time zone.
        for f in riffle_functions::flink_scalar_functions()
            .into_iter()
            .chain(riffle_functions::current_time_functions(0))
        {
            add_udf(&mut functions, f);
        }
        let mut aggregates = HashMap::new();
        for f in datafusion_functions_aggregate::all_default_aggregate_functions() {
            for alias in f.aliases() {
                aggregates.insert(alias.to_ascii_lowercase(), Arc::clone(&f));
            }
            aggregates.insert(f.name().to_ascii_lowercase(), f);
        }
        // Flink's result types for SUM and AVG (see `aggregates`).
        for f in [
            crate::aggregates::FlinkNumericAggregate::sum(),
            crate::aggregates::FlinkNumericAggregate::avg(),
        ] {
            let f = Arc::new(datafusion_expr::AggregateUDF::new_from_impl(f));
            aggregates.insert(f.name().to_string(), f);
        }
        aggregates.remove("mean");
        let mut windows = HashMap::new();
        for f in datafusion_functions_window::all_default_window_functions() {
            for alias in f.aliases() {
                windows.insert(alias.to_ascii_lowercase(), Arc::clone(&f));
            }
            windows.insert(f.name().to_ascii_lowercase(), f);
        }
        let expr_planners: Vec<Arc<dyn ExprPlanner>> = vec![
            Arc::new(datafusion_functions::core::planner::CoreFunctionPlanner::default()),
            Arc::new(datafusion_functions_nested::planner::NestedFunctionPlanner),
            Arc::new(datafusion_functions_nested::planner::FieldAccessPlanner),
            Arc::new(datafusion_functions::datetime::planner::DatetimeFunctionPlanner),
            Arc::new(datafusion_functions::unicode::planner::UnicodeFunctionPlanner),
            Arc::new(datafusion_functions_aggregate::planner::AggregateFunctionPlanner),
            Arc::new(datafusion_functions_window::planner::WindowFunctionPlanner),
        ];
        let mut options = ConfigOptions::default();
        options.execution.time_zone = Some("+00:00".to_string());
        Catalog {
            tables: HashMap::new(),
            sources: HashMap::new(),
            functions,
            aggregates,
            windows,
            expr_planners,
            relation_planners: vec![
                Arc::new(crate::window_tvf::WindowTvfPlanner),
                Arc::new(crate::temporal_join::TemporalTablePlanner),
            ],
            options,
            missing: Arc::default(),
            insert_target: Arc::default(),
        }
    }

    /// Registers a scalar function under its name and aliases, replacing
    /// any function of the same name.
    pub fn add_function(&mut self, f: Arc<ScalarUDF>) {
        add_udf(&mut self.functions, f);
    }

    /// All table and view names.
    pub fn object_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.sources.keys().cloned().collect();
        v.sort();
        v
    }
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("objects", &self.object_names())
            .field("functions", &self.functions.len())
            .finish()
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new()
    }
}

impl ContextProvider for Catalog {
    fn get_table_source(
        &self,
        name: TableReference,
    ) -> datafusion_common::Result<Arc<dyn TableSource>> {
        let table = name.table();
        let target = self
            .insert_target
            .lock()
            .ok()
            .and_then(|mut t| t.take_if(|t| t == table));
        if let Some(t) = target.and_then(|t| self.tables.get(&t)) {
            return Ok(Arc::new(InsertTargetSource {
                schema: t.descriptor().persisted_schema(),
            }));
        }
        match self.sources.get(table) {
            Some(s) => Ok(Arc::clone(s)),
            None => {
                if let Ok(mut m) = self.missing.lock() {
                    m.push(table.to_string());
                }
                Err(DataFusionError::Plan(format!("Object '{table}' not found")))
            }
        }
    }

    fn get_expr_planners(&self) -> &[Arc<dyn ExprPlanner>] {
        &self.expr_planners
    }

    fn get_relation_planners(&self) -> &[Arc<dyn RelationPlanner>] {
        &self.relation_planners
    }

    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.functions.get(&name.to_ascii_lowercase()).cloned()
    }

    fn get_higher_order_meta(&self, _name: &str) -> Option<Arc<HigherOrderUDF>> {
        None
    }

    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.aggregates.get(&name.to_ascii_lowercase()).cloned()
    }

    fn get_window_meta(&self, name: &str) -> Option<Arc<WindowUDF>> {
        self.windows.get(&name.to_ascii_lowercase()).cloned()
    }

    fn get_variable_type(&self, _variable_names: &[String]) -> Option<DataType> {
        None
    }

    fn options(&self) -> &ConfigOptions {
        &self.options
    }

    fn udf_names(&self) -> Vec<String> {
        self.functions.keys().cloned().collect()
    }

    fn higher_order_function_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn udaf_names(&self) -> Vec<String> {
        self.aggregates.keys().cloned().collect()
    }

    fn udwf_names(&self) -> Vec<String> {
        self.windows.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use riffle_common::config::Configuration;
    use riffle_runtime::metrics::JobMetrics;

    use crate::Session;

    fn run(sql: &str) -> crate::Result<()> {
        let mut session = Session::new(Configuration::new());
        session.run_script(sql, &Arc::new(JobMetrics::default()))?;
        Ok(())
    }

    fn error(sql: &str) -> String {
        run(sql).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn a_watermark_needs_an_event_time_column() {
        // Flink refuses both at CREATE TABLE, before any job runs.
        let e = error(
            "CREATE TABLE t (s STRING, WATERMARK FOR s AS s)
             WITH ('connector' = 'datagen');",
        );
        assert!(
            e.contains("watermark column 's'")
                && e.contains("but the time field type is STRING")
                && e.contains("at 1:"),
            "{e}"
        );
        let e = error(
            "CREATE TABLE t (a BIGINT, pt AS PROCTIME(),\n  WATERMARK FOR pt AS pt)
             WITH ('connector' = 'datagen');",
        );
        assert!(
            e.contains("processing-time attribute column 'pt'") && e.contains("at 2:"),
            "{e}"
        );
        run(
            "CREATE TABLE t (ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
             WITH ('connector' = 'datagen');",
        )
        .unwrap();
        run(
            "CREATE TABLE t (ts TIMESTAMP_LTZ(3), WATERMARK FOR ts AS ts)
             WITH ('connector' = 'datagen');",
        )
        .unwrap();
    }

    /// Issue 15, case 8: a computed watermark column and the watermark
    /// expression are typed when the table is created, as in Flink, not when
    /// the job runs.
    #[test]
    fn a_computed_rowtime_and_the_watermark_expression_are_typed_at_create_table() {
        for (ddl, want, at) in [
            (
                "CREATE TABLE t (id BIGINT, s AS CAST(id AS STRING),\n  \
                 WATERMARK FOR s AS s - INTERVAL '1' SECOND)",
                "but the time field type is STRING (watermark column 's' of table 't')",
                "at 2:17",
            ),
            (
                "CREATE TABLE t (id BIGINT, ms AS id + 1, WATERMARK FOR ms AS ms)",
                "but the time field type is BIGINT",
                "at 1:",
            ),
            (
                "CREATE TABLE t (ts TIMESTAMP(3), n BIGINT,\n  WATERMARK FOR ts AS n)",
                "Invalid data type of expression for watermark definition. The field must be \
                 of type TIMESTAMP(p) or TIMESTAMP_LTZ(p), the supported precision 'p' is from \
                 0 to 3, but the watermark expression type is BIGINT",
                "at 2:23",
            ),
            (
                "CREATE TABLE t (ts TIMESTAMP(3), WATERMARK FOR ts AS CAST(ts AS STRING))",
                "but the watermark expression type is STRING (WATERMARK FOR ts of table 't')",
                "at 1:",
            ),
        ] {
            let e = error(&format!("{ddl} WITH ('connector' = 'datagen');"));
            assert!(
                e.contains("Invalid data type of") && e.contains(want) && e.contains(at),
                "{ddl}: {e}"
            );
        }
        for ddl in [
            "CREATE TABLE t (s STRING, ts AS TO_TIMESTAMP(s),
               WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)",
            "CREATE TABLE t (s STRING, ts AS CAST(s AS TIMESTAMP(3)), WATERMARK FOR ts AS ts)",
            "CREATE TABLE t (ms BIGINT, ts AS TO_TIMESTAMP_LTZ(ms, 3),
               WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)",
        ] {
            let planned = run(&format!("{ddl} WITH ('connector' = 'datagen');"));
            assert!(planned.is_ok(), "{ddl}: {planned:?}");
        }
    }

    /// Issue 15, case 14: parentheses do not hide PROCTIME().
    #[test]
    fn a_parenthesised_proctime_is_no_rowtime() {
        let e = error(
            "CREATE TABLE t (a BIGINT, pt AS ((PROCTIME())), WATERMARK FOR pt AS pt)
             WITH ('connector' = 'datagen');",
        );
        assert!(
            e.contains("processing-time attribute column 'pt' of table 't'"),
            "{e}"
        );
    }

    #[test]
    fn partition_columns_must_be_physical_columns() {
        let e = error(
            "CREATE TABLE t (a BIGINT, dt STRING) PARTITIONED BY (day)
             WITH ('connector' = 'filesystem', 'path' = '/tmp/t', 'format' = 'csv');",
        );
        assert!(
            e.contains("partition column 'day' is not a column of table 't'; columns: a, dt"),
            "{e}"
        );
        let e = error(
            "CREATE TABLE t (a BIGINT, dt AS CAST(a AS STRING)) PARTITIONED BY (dt)
             WITH ('connector' = 'filesystem', 'path' = '/tmp/t', 'format' = 'csv');",
        );
        assert!(e.contains("'dt' of table 't' is a computed column"), "{e}");
        let e = error(
            "CREATE TABLE t (a BIGINT, dt STRING) PARTITIONED BY (dt, dt)
             WITH ('connector' = 'filesystem', 'path' = '/tmp/t', 'format' = 'csv');",
        );
        assert!(e.contains("partitioned by column 'dt' twice"), "{e}");
    }

    #[test]
    fn only_connectors_with_partitions_take_partitioned_by() {
        let e = error(
            "CREATE TABLE t (a BIGINT, dt STRING) PARTITIONED BY (dt) WITH ('connector' = 'print');",
        );
        assert!(
            e.contains("connector 'print' does not support PARTITIONED BY"),
            "{e}"
        );
        let planned = run(
            "CREATE TABLE src (a BIGINT, dt STRING) WITH ('connector' = 'datagen', 'number-of-rows' = '1');
             CREATE TABLE t (a BIGINT, dt STRING) PARTITIONED BY (dt)
             WITH ('connector' = 'filesystem', 'path' = '/tmp/t', 'format' = 'csv',
                   'sink.partition-commit.policy.kind' = 'success-file');
             EXPLAIN INSERT INTO t SELECT a, dt FROM src;",
        );
        assert!(planned.is_ok(), "{planned:?}");
    }
}
