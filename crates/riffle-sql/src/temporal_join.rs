//! Temporal joins: `JOIN t FOR SYSTEM_TIME AS OF s.time ON ...`.
//!
//! The parser reads `FOR SYSTEM_TIME AS OF` on a table; [`TemporalTablePlanner`]
//! plans that table as usual and wraps it in a [`TemporalTableNode`] that
//! remembers the time expression (which names a column of the *other* input,
//! so it can only be resolved at the join). Right after type coercion,
//! [`mark_temporal_joins`] turns each join whose right input is such a table
//! into a [`TemporalJoinNode`]: it names the time column among its
//! expressions, so projection pruning keeps that column of the left input
//! (nothing else reads it), and filters are not pushed through it. The node
//! is planned here:
//!
//! - on a processing-time attribute, a lookup join: the table must be
//!   bounded, and each streaming row is joined with the table as it is; the
//!   table's source and stateless chain move into the join operator, which
//!   is chained onto the streaming input (no exchange, no state);
//! - on a rowtime attribute, an event-time temporal join with a versioned
//!   table: one with a primary key (covered by the join's equality keys)
//!   and a rowtime; both inputs are hashed by the key into a `TemporalJoin`;
//! - anything else is refused with the reason, as Flink refuses it.
//!
//! Only INNER and LEFT temporal joins exist, as in Flink.

use std::cmp::Ordering;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{Column, DFSchemaRef, DataFusionError, Result as DfResult};
use datafusion_expr::logical_plan::Join;
use datafusion_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion_expr::utils::conjunction;
use datafusion_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion_sql::sqlparser::ast::{Expr as SqlExpr, TableFactor, TableVersion};
use riffle_runtime::Partitioning;
use riffle_runtime::operators::{JoinKind, LookupJoinFactory, LookupTable, TemporalJoinFactory};

use crate::nodes::TimeAttribute;
use crate::physical::{Builder, Stream, arrow_schema};
use crate::window_tvf::time_attribute;
use crate::{Error, Result};

/// A table read `FOR SYSTEM_TIME AS OF` a time of the other join input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TemporalTableNode {
    /// The table as planned without the clause.
    pub input: LogicalPlan,
    /// The table's name as written (for messages).
    pub table: String,
    /// The time column, as written (`B.p_time` is `["B", "p_time"]`).
    pub as_of: Vec<String>,
}

impl PartialOrd for TemporalTableNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (&self.table, &self.as_of).partial_cmp(&(&other.table, &other.as_of))
    }
}

impl UserDefinedLogicalNodeCore for TemporalTableNode {
    fn name(&self) -> &str {
        "TemporalTable"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "TemporalTable: {} FOR SYSTEM_TIME AS OF {}",
            self.table,
            self.as_of.join(".")
        )
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> DfResult<Self> {
        Ok(TemporalTableNode {
            input: inputs.pop().unwrap_or_else(|| self.input.clone()),
            table: self.table.clone(),
            as_of: self.as_of.clone(),
        })
    }
}

/// Plans `table FOR SYSTEM_TIME AS OF expr [AS alias]`.
#[derive(Debug, Default)]
pub struct TemporalTablePlanner;

impl RelationPlanner for TemporalTablePlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        ctx: &mut dyn RelationPlannerContext,
    ) -> DfResult<RelationPlanning> {
        let mut plain = relation;
        let TableFactor::Table {
            name,
            alias,
            version,
            ..
        } = &mut plain
        else {
            return Ok(RelationPlanning::Original(Box::new(plain)));
        };
        let Some(version) = version.take() else {
            return Ok(RelationPlanning::Original(Box::new(plain)));
        };
        let table = name.to_string();
        let TableVersion::ForSystemTimeAsOf(expr) = version else {
            return Err(DataFusionError::Plan(format!(
                "unsupported table version clause '{version}' on table {table}; \
                 Flink SQL has FOR SYSTEM_TIME AS OF <time attribute>"
            )));
        };
        let as_of = match expr {
            SqlExpr::Identifier(i) => vec![i.value],
            SqlExpr::CompoundIdentifier(parts) => parts.into_iter().map(|p| p.value).collect(),
            other => {
                return Err(DataFusionError::Plan(format!(
                    "FOR SYSTEM_TIME AS OF {other} on table {table}: the period must be a time \
                     attribute column of the other side of the join, e.g. FOR SYSTEM_TIME AS OF o.proc_time"
                )));
            }
        };
        let alias = alias.take();
        let input = ctx.plan(plain)?;
        let node = TemporalTableNode {
            input,
            table,
            as_of,
        };
        let plan = LogicalPlan::Extension(Extension {
            node: Arc::new(node),
        });
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan, alias,
        ))))
    }
}

/// A join whose right input is a temporal table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct TemporalJoinNode {
    /// The join as DataFusion planned it.
    pub join: Join,
    /// The left input's time column the table is read as of.
    pub as_of: Column,
}

impl UserDefinedLogicalNodeCore for TemporalJoinNode {
    fn name(&self) -> &str {
        "TemporalJoin"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![self.join.left.as_ref(), self.join.right.as_ref()]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.join.schema
    }

    /// The keys (left, right, pairwise), the condition if any, then the
    /// time column.
    fn expressions(&self) -> Vec<Expr> {
        let mut e: Vec<Expr> = Vec::new();
        for (l, r) in &self.join.on {
            e.push(l.clone());
            e.push(r.clone());
        }
        e.extend(self.join.filter.iter().cloned());
        e.push(Expr::Column(self.as_of.clone()));
        e
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "TemporalJoin: {} FOR SYSTEM_TIME AS OF {}",
            self.join.join_type, self.as_of
        )
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let mut inputs = inputs.into_iter();
        let (Some(left), Some(right)) = (inputs.next(), inputs.next()) else {
            return Err(DataFusionError::Internal(
                "a temporal join has two inputs".into(),
            ));
        };
        let mut exprs = exprs.into_iter();
        let mut on = Vec::with_capacity(self.join.on.len());
        for _ in &self.join.on {
            match (exprs.next(), exprs.next()) {
                (Some(l), Some(r)) => on.push((l, r)),
                _ => {
                    return Err(DataFusionError::Internal(
                        "a temporal join lost its keys".into(),
                    ));
                }
            }
        }
        let filter = match self.join.filter {
            Some(_) => exprs.next(),
            None => None,
        };
        let join = Join::try_new(
            Arc::new(left),
            Arc::new(right),
            on,
            filter,
            self.join.join_type,
            self.join.join_constraint,
            self.join.null_equality,
            self.join.null_aware,
        )?;
        Ok(TemporalJoinNode {
            join,
            as_of: self.as_of.clone(),
        })
    }

    /// The inputs' columns among the output's (left columns, then right),
    /// and the table's rowtime (its versions are ordered by it); the
    /// columns the keys, the condition and the time read are added by the
    /// caller from [`Self::expressions`].
    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        let n = self.join.left.schema().fields().len();
        let left = output_columns.iter().copied().filter(|&i| i < n).collect();
        let mut right: Vec<usize> = output_columns
            .iter()
            .filter_map(|&i| i.checked_sub(n))
            .collect();
        let table = self.join.right.as_ref();
        for (i, f) in table.schema().fields().iter().enumerate() {
            if time_attribute(table, f.name()) == Some(TimeAttribute::Rowtime)
                && !right.contains(&i)
            {
                right.push(i);
            }
        }
        right.sort_unstable();
        Some(vec![left, right])
    }
}

/// Replaces each join whose right input is a temporal table (and an inner
/// join's filter right above it, `FROM a JOIN t FOR SYSTEM_TIME AS OF ...
/// WHERE ...`, stays above) by a [`TemporalJoinNode`].
pub(crate) fn mark_temporal_joins(plan: LogicalPlan) -> Result<LogicalPlan> {
    let marked = plan.transform_up(|p| {
        let LogicalPlan::Join(j) = &p else {
            return Ok(Transformed::no(p));
        };
        let Some(t) = temporal_side(&j.right) else {
            return Ok(Transformed::no(p));
        };
        // As written: identifiers are case-sensitive, as in Flink.
        let as_of = match t.as_of.as_slice() {
            [name] => Column::new_unqualified(name),
            [rel @ .., name] => Column::new(
                Some(datafusion_common::TableReference::bare(rel.join("."))),
                name,
            ),
            [] => {
                return Err(DataFusionError::Plan(
                    "FOR SYSTEM_TIME AS OF nothing".into(),
                ));
            }
        };
        let node = TemporalJoinNode {
            join: j.clone(),
            as_of,
        };
        Ok(Transformed::yes(LogicalPlan::Extension(Extension {
            node: Arc::new(node),
        })))
    })?;
    // An inner temporal join written with its condition in WHERE.
    let folded = marked.data.transform_up(|p| {
        let LogicalPlan::Filter(f) = &p else {
            return Ok(Transformed::no(p));
        };
        let LogicalPlan::Extension(e) = f.input.as_ref() else {
            return Ok(Transformed::no(p));
        };
        let Some(t) = e.node.as_any().downcast_ref::<TemporalJoinNode>() else {
            return Ok(Transformed::no(p));
        };
        if t.join.join_type != datafusion_expr::JoinType::Inner || !t.join.on.is_empty() {
            return Ok(Transformed::no(p));
        }
        let mut join = t.join.clone();
        join.filter = conjunction(join.filter.iter().cloned().chain([f.predicate.clone()]));
        let node = TemporalJoinNode {
            join,
            as_of: t.as_of.clone(),
        };
        Ok(Transformed::yes(LogicalPlan::Extension(Extension {
            node: Arc::new(node),
        })))
    })?;
    Ok(folded.data)
}

/// The primary key declared by the table `plan` reads (through views and
/// the table's inline view), if any.
fn primary_key(plan: &LogicalPlan) -> Option<Vec<String>> {
    if let LogicalPlan::TableScan(scan) = plan {
        if let Some(src) = scan
            .source
            .downcast_ref::<crate::catalog::PhysicalTableSource>()
        {
            return Some(crate::unique_key::declared_primary_key(src));
        }
        if let Some(view) = scan.source.downcast_ref::<crate::catalog::ViewSource>() {
            return primary_key(&view.plan);
        }
    }
    plan.inputs().into_iter().find_map(primary_key)
}

/// The temporal table `plan` reads, if it is one (under aliases and
/// projections).
pub(crate) fn temporal_side(plan: &LogicalPlan) -> Option<&TemporalTableNode> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => temporal_side(&a.input),
        LogicalPlan::Projection(p) => temporal_side(&p.input),
        LogicalPlan::Extension(e) => e.node.as_any().downcast_ref::<TemporalTableNode>(),
        _ => None,
    }
}

impl Builder {
    /// Plans a temporal join.
    pub(crate) fn plan_temporal_join(&mut self, node: &TemporalJoinNode) -> Result<Stream> {
        let j = &node.join;
        let kind = crate::join_plan::join_kind(j)?;
        let (on, filter) = crate::join_plan::equi_keys(j);
        let (on, filter) = (on.as_slice(), filter.as_ref());
        let t = temporal_side(&j.right)
            .ok_or_else(|| Error::plan("a temporal join without its temporal table"))?;
        let as_of = t.as_of.join(".");
        if !matches!(kind, JoinKind::Inner | JoinKind::Left) {
            return Err(Error::unsupported(format!(
                "{kind:?} temporal joins: a join with a table FOR SYSTEM_TIME AS OF is INNER or LEFT"
            )));
        }
        let column = &node.as_of;
        if !j.left.schema().has_column(column) {
            let columns: Vec<String> = j
                .left
                .schema()
                .columns()
                .iter()
                .map(|c| c.flat_name())
                .collect();
            return Err(Error::plan(format!(
                "FOR SYSTEM_TIME AS OF {as_of} on table {}: {as_of} is not a column of the join's \
                 left input ({}); the period must be a time attribute of the other side",
                t.table,
                columns.join(", ")
            )));
        }
        if on.is_empty() {
            return Err(Error::plan(format!(
                "a temporal join with table {} needs an equality condition on its columns, \
                 e.g. ON o.key = {}.key",
                t.table, t.table
            )));
        }
        match time_attribute(&j.left, &column.name) {
            Some(TimeAttribute::Proctime) => self.plan_lookup_join(j, kind, t, on, filter),
            Some(TimeAttribute::Rowtime) => {
                let left_time = j.left.schema().index_of_column(column)?;
                self.plan_versioned_join(j, kind, t, left_time, on, filter)
            }
            None => Err(Error::plan(format!(
                "FOR SYSTEM_TIME AS OF {as_of} on table {}: {as_of} is a plain column, not a time \
                 attribute; use a PROCTIME() column (a lookup join) or a column with a WATERMARK \
                 (an event-time temporal join)",
                t.table
            ))),
        }
    }

    /// An event-time temporal join: the stream and the versioned table's
    /// changelog, both hashed by the join key, into a `TemporalJoin`.
    fn plan_versioned_join(
        &mut self,
        j: &Join,
        kind: JoinKind,
        t: &TemporalTableNode,
        left_time: usize,
        on: &[(Expr, Expr)],
        filter: Option<&Expr>,
    ) -> Result<Stream> {
        let table = &t.table;
        let right_schema = j.right.schema();
        let rowtimes: Vec<usize> = (0..right_schema.fields().len())
            .filter(|&i| {
                time_attribute(&j.right, right_schema.field(i).name())
                    == Some(TimeAttribute::Rowtime)
            })
            .collect();
        let [right_time] = rowtimes.as_slice() else {
            return Err(Error::plan(format!(
                "the versioned table {table} of an event-time temporal join needs one rowtime \
                 attribute (a column with WATERMARK FOR); it has {}",
                rowtimes.len()
            )));
        };
        let primary_key = primary_key(&t.input).unwrap_or_default();
        if primary_key.is_empty() {
            return Err(Error::plan(format!(
                "Temporal Table Join requires primary key in versioned table, but no primary key \
                 can be found for table {table}; declare PRIMARY KEY (...) NOT ENFORCED"
            )));
        }
        let key_columns: Vec<&str> = on
            .iter()
            .filter_map(|(_, r)| match r {
                Expr::Column(c) => Some(c.name.as_str()),
                _ => None,
            })
            .collect();
        let missing: Vec<&String> = primary_key
            .iter()
            .filter(|k| !key_columns.contains(&k.as_str()))
            .collect();
        if !missing.is_empty() {
            return Err(Error::plan(format!(
                "the join condition of the temporal join with {table} must cover its primary key \
                 ({}); it does not compare {}",
                primary_key.join(", "),
                missing
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let left = self.plan(&j.left)?;
        self.temporal_table_ok = true;
        let right = self.plan(&j.right);
        self.temporal_table_ok = false;
        let right = right?;
        let (left_keys, right_keys) = self.join_keys(j, on)?;
        let op = TemporalJoinFactory {
            kind,
            left_keys: left_keys.clone(),
            right_keys: right_keys.clone(),
            filter: filter.map(|f| self.physical(f, &j.schema)).transpose()?,
            left_time,
            right_time: *right_time,
            left_schema: arrow_schema(j.left.schema()),
            right_schema: arrow_schema(right_schema),
            output_schema: arrow_schema(&j.schema),
        };
        let v = self.keyed_vertex(&left, left_keys);
        self.add_edge(&right, v, 1, Partitioning::Hash(right_keys));
        self.push(v, Arc::new(op));
        Ok(Stream {
            vertex: v,
            updates_from: left.updates_from,
        })
    }

    /// A processing-time temporal join: a lookup join against a bounded table.
    fn plan_lookup_join(
        &mut self,
        j: &Join,
        kind: JoinKind,
        t: &TemporalTableNode,
        on: &[(Expr, Expr)],
        filter: Option<&Expr>,
    ) -> Result<Stream> {
        let left = self.plan(&j.left)?;
        let first_new = self.vertex_count();
        self.temporal_table_ok = true;
        let right = self.plan(&j.right);
        self.temporal_table_ok = false;
        let right = right?;
        let table = self.detach_lookup_table(&right, first_new, &t.table)?;
        let (left_keys, right_keys) = self.join_keys(j, on)?;
        let filter = filter.map(|f| self.physical(f, &j.schema)).transpose()?;
        let op = LookupJoinFactory {
            kind,
            table,
            left_keys,
            right_keys,
            filter,
            left_schema: arrow_schema(j.left.schema()),
            right_schema: arrow_schema(j.right.schema()),
            output_schema: arrow_schema(&j.schema),
        };
        self.push(left.vertex, Arc::new(op));
        Ok(left)
    }

    /// Takes the vertex `right` (planned from a temporal table, the only
    /// vertex made since `first_new`) out of the job: its bounded source and
    /// stateless chain become the lookup join's table.
    fn detach_lookup_table(
        &mut self,
        right: &Stream,
        first_new: usize,
        table: &str,
    ) -> Result<LookupTable> {
        let alone = right.vertex == first_new && self.vertex_count() == first_new + 1;
        let refuse = |why: &str| {
            Error::unsupported(format!(
                "a processing-time temporal join with table {table}: {why}; Riffle looks rows up in \
                 a bounded table (e.g. the 'filesystem' connector) read as it is; for a changing \
                 table use an event-time temporal join (FOR SYSTEM_TIME AS OF a rowtime column)"
            ))
        };
        if !alone || right.updates_from.is_some() {
            return Err(refuse("the table is a query with aggregations or joins"));
        }
        let vertex = self
            .take_last_vertex()
            .ok_or_else(|| Error::plan("the lookup table's vertex is missing"))?;
        let Some(source) = vertex.source else {
            return Err(refuse("the table has no source"));
        };
        if !source.is_bounded() {
            return Err(refuse(&format!(
                "its connector '{}' is unbounded",
                source.connector()
            )));
        }
        Ok(LookupTable {
            name: table.to_string(),
            source,
            operators: vertex.operators,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use riffle_common::config::Configuration;
    use riffle_runtime::metrics::JobMetrics;

    use crate::session::Session;

    const TABLES: &str = "
        CREATE TABLE s (k BIGINT, ts TIMESTAMP(3), p AS PROCTIME(),
                        WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
            WITH ('connector' = 'datagen', 'number-of-rows' = '10');
        CREATE TABLE dim (id BIGINT, name STRING)
            WITH ('connector' = 'datagen', 'number-of-rows' = '5');
        CREATE TABLE endless (id BIGINT, name STRING) WITH ('connector' = 'datagen');
        CREATE TABLE o (k BIGINT, name STRING) WITH ('connector' = 'blackhole');";

    fn explain(insert: &str) -> crate::Result<String> {
        Session::new(Configuration::new()).explain_script(
            &format!("{TABLES}\n{insert}"),
            &Arc::new(JobMetrics::default()),
        )
    }

    #[test]
    fn a_processing_time_temporal_join_is_a_lookup_join_chained_to_its_stream() {
        let text = explain(
            "INSERT INTO o SELECT s.k, d.name FROM s
             JOIN dim FOR SYSTEM_TIME AS OF s.p AS d ON s.k = d.id;",
        )
        .unwrap();
        assert!(
            text.contains("LookupJoin: table=[dim], joinType=[InnerJoin], lookup=[id@0=k@0]"),
            "{text}"
        );
        // One vertex: the table's source is inside the join.
        assert!(text.contains("Vertex 0"), "{text}");
        assert!(!text.contains("Vertex 1"), "{text}");
        // Without an alias, and LEFT, with a condition in ON.
        let text = explain(
            "INSERT INTO o SELECT s.k, dim.name FROM s
             LEFT JOIN dim FOR SYSTEM_TIME AS OF s.p ON s.k = dim.id AND dim.name <> 'x';",
        )
        .unwrap();
        assert!(text.contains("joinType=[LeftOuterJoin]"), "{text}");
        assert!(text.contains("where=["), "{text}");
    }

    const VERSIONED: &str = "
        CREATE TABLE rates (id BIGINT, rate BIGINT, vt TIMESTAMP(3),
                            WATERMARK FOR vt AS vt, PRIMARY KEY (id) NOT ENFORCED)
            WITH ('connector' = 'datagen', 'number-of-rows' = '5');
        CREATE TABLE nokey (id BIGINT, rate BIGINT, vt TIMESTAMP(3), WATERMARK FOR vt AS vt)
            WITH ('connector' = 'datagen', 'number-of-rows' = '5');
        CREATE TABLE o2 (k BIGINT, rate BIGINT) WITH ('connector' = 'blackhole');";

    #[test]
    fn an_event_time_temporal_join_hashes_both_inputs_by_the_key() {
        let text = explain(&format!(
            "{VERSIONED}
             INSERT INTO o2 SELECT s.k, r.rate FROM s
             LEFT JOIN rates FOR SYSTEM_TIME AS OF s.ts AS r ON s.k = r.id;"
        ))
        .unwrap();
        assert!(
            text.contains(
                "TemporalJoin: joinType=[LeftOuterJoin], leftKeys=[k@0], rightKeys=[id@0], \
                 leftTimeIndex=[1], rightTimeIndex=[2]"
            ),
            "{text}"
        );
        assert!(text.contains("Vertex 2"), "{text}");
        for (table, on, expected) in [
            (
                "nokey",
                "s.k = r.id",
                "requires primary key in versioned table",
            ),
            ("rates", "s.k = r.rate", "must cover its primary key (id)"),
        ] {
            let e = explain(&format!(
                "{VERSIONED}
                 INSERT INTO o2 SELECT s.k, r.rate FROM s
                 JOIN {table} FOR SYSTEM_TIME AS OF s.ts AS r ON {on};"
            ))
            .unwrap_err()
            .to_string();
            assert!(e.contains(expected), "{table} {on}: {e}");
        }
    }

    #[test]
    fn temporal_joins_flink_refuses_are_refused_with_the_reason() {
        let cases = [
            (
                "INSERT INTO o SELECT s.k, d.name FROM s
                 RIGHT JOIN dim FOR SYSTEM_TIME AS OF s.p AS d ON s.k = d.id;",
                "is INNER or LEFT",
            ),
            (
                "INSERT INTO o SELECT s.k, d.name FROM s
                 JOIN dim FOR SYSTEM_TIME AS OF s.k AS d ON s.k = d.id;",
                "s.k is a plain column, not a time attribute",
            ),
            (
                "INSERT INTO o SELECT s.k, d.name FROM s
                 JOIN dim FOR SYSTEM_TIME AS OF s.p AS d ON s.k > d.id;",
                "needs an equality condition",
            ),
            (
                "INSERT INTO o SELECT s.k, d.name FROM s
                 JOIN endless FOR SYSTEM_TIME AS OF s.p AS d ON s.k = d.id;",
                "its connector 'datagen' is unbounded",
            ),
            (
                "INSERT INTO o SELECT id, name FROM dim FOR SYSTEM_TIME AS OF p;",
                "outside a join",
            ),
            (
                "INSERT INTO o SELECT s.k, d.name FROM s
                 JOIN dim FOR SYSTEM_TIME AS OF s.p + INTERVAL '1' SECOND AS d ON s.k = d.id;",
                "must be a time attribute column",
            ),
        ];
        for (sql, expected) in cases {
            let e = explain(sql).unwrap_err().to_string();
            assert!(e.contains(expected), "{sql}: {e}");
        }
    }

    #[test]
    fn legacy_connector_keys_make_an_ordinary_table() {
        let dir = std::env::temp_dir().join(format!("riffle-legacy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("side.txt");
        std::fs::write(&file, "1,one\n2,two\n").unwrap();
        let text = explain(&format!(
            "CREATE TABLE side (key BIGINT, `value` VARCHAR) WITH (
                'connector.type' = 'filesystem',
                'connector.path' = 'file://{}',
                'format.type' = 'csv');
             INSERT INTO o SELECT s.k, v.`value` FROM s
             JOIN side FOR SYSTEM_TIME AS OF s.p AS v ON s.k = v.key;",
            file.display()
        ))
        .unwrap();
        assert!(text.contains("LookupJoin: table=[side]"), "{text}");
        let e = explain(
            "CREATE TABLE side (key BIGINT) WITH (
                'connector.type' = 'filesystem', 'connector.path' = '/x', 'connector.glob' = '*');",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("'connector.glob'"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
