//! Planning once what a job reads more than once (Flink's sub-plan reuse,
//! `table.optimizer.reuse-sub-plan-enabled`).
//!
//! Nexmark's views read one `datagen` table: q3 joins `person` with
//! `auction`, q5 counts the same bids per window on both sides of its join.
//! Planned node by node, each reader would get a source of its own and decode
//! every event again; the decoding is most of what those queries cost. So the
//! builder asks this module first: a sub-plan that occurs more than once in
//! the job's sinks is planned at its first occurrence, and every occurrence,
//! the first included, continues from a branch of it (a vertex of its own fed
//! by a forward edge), so that no reader's operators end up in another
//! reader's chain. [`collapse_forward_chains`] then chains back every branch
//! that turned out to have one reader, and drops the branches a reader left
//! empty, so the job has a thread hop only where the stream really splits.
//!
//! Scans of one table are shared even when they read different columns (q3's
//! `person` reads one nested column of `datagen`, its `auction` another): the
//! table is read once with every column some scan needs, and each reader's
//! branch starts by picking its columns.
//!
//! Only the largest repeated sub-plans are shared: the parts of a shared
//! sub-plan are planned once with it. A sub-plan planned under a context its
//! subtree does not show is shared only within that context: inside a
//! session window's input, and within one statement when that statement has
//! `STATE_TTL` hints (they name its inputs). The table side of a
//! processing-time temporal join is never shared: it becomes the lookup
//! join's table, not a stream.

use std::collections::{BTreeSet, HashMap, HashSet};

use datafusion_expr::LogicalPlan;
use datafusion_expr::logical_plan::{TableScan, TableScanBuilder};
use riffle_runtime::{Edge, Partitioning, Vertex};

use crate::physical::Stream;

/// The repeated sub-plans of a job and the streams already planned for them.
#[derive(Default)]
pub(crate) struct Reuse {
    shared: HashSet<LogicalPlan>,
    /// Per table read by more than one scan: the columns they read together.
    scans: HashMap<ScanKey, Columns>,
    planned: HashMap<LogicalPlan, Vec<Planned>>,
}

/// A table, as its scans name and reach it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ScanKey {
    table: String,
    source: usize,
}

impl ScanKey {
    /// The key of a plain scan of a connector table (no filters, no limit).
    fn of(scan: &TableScan) -> Option<ScanKey> {
        let plain = scan.filters.is_empty() && scan.fetch.is_none();
        let table = scan
            .source
            .downcast_ref::<crate::catalog::PhysicalTableSource>()
            .is_some();
        (plain && table).then(|| ScanKey {
            table: scan.table_name.to_string(),
            // The source's address: two scans of one catalog table share it.
            source: std::sync::Arc::as_ptr(&scan.source) as *const () as usize,
        })
    }
}

/// The columns some scans of a table read, and how many scans there are.
#[derive(Debug, Default)]
struct Columns {
    scans: usize,
    /// `None`: every column.
    indices: Option<BTreeSet<usize>>,
}

/// One planning of a shared sub-plan, and the context it was planned in.
struct Planned {
    stream: Stream,
    context: Context,
}

/// What planning a sub-plan depends on beyond the sub-plan itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Context {
    /// Planned as (part of) a session window aggregate's input.
    pub session_window: bool,
    /// The statement's index, when its `STATE_TTL` hints apply.
    pub hinted_statement: Option<usize>,
}

impl Reuse {
    /// The repeated sub-plans among `plans` (the sinks' queries).
    pub(crate) fn of<'a>(plans: impl IntoIterator<Item = &'a LogicalPlan>) -> Reuse {
        let mut seen: HashMap<&LogicalPlan, usize> = HashMap::new();
        for p in plans {
            count(p, &mut seen);
        }
        let mut scans: HashMap<ScanKey, Columns> = HashMap::new();
        let mut shared = HashSet::new();
        for (p, n) in seen {
            if let LogicalPlan::TableScan(scan) = p
                && let Some(key) = ScanKey::of(scan)
            {
                // Scans are shared by table, whatever columns each reads.
                let c = scans.entry(key).or_default();
                c.scans += n;
                c.indices = match (c.indices.take(), &scan.projection) {
                    (_, None) => None,
                    (None, Some(p)) if c.scans == n => Some(p.iter().copied().collect()),
                    (None, Some(_)) => None,
                    (Some(mut all), Some(p)) => {
                        all.extend(p.iter().copied());
                        Some(all)
                    }
                };
            } else if n > 1 {
                shared.insert(p.clone());
            }
        }
        scans.retain(|_, c| c.scans > 1);
        Reuse {
            shared,
            scans,
            planned: HashMap::new(),
        }
    }

    /// The scan of `scan`'s table that reads the columns of all its scans,
    /// when the job has more than one.
    pub(crate) fn widened_scan(&self, scan: &TableScan) -> Option<LogicalPlan> {
        let columns = self.scans.get(&ScanKey::of(scan)?)?;
        let projection = columns
            .indices
            .as_ref()
            .map(|indices| indices.iter().copied().collect());
        TableScanBuilder::new(scan.table_name.clone(), std::sync::Arc::clone(&scan.source))
            .with_projection(projection)
            .build()
            .ok()
            .map(LogicalPlan::TableScan)
    }

    /// Whether `plan` occurs more than once.
    pub(crate) fn is_shared(&self, plan: &LogicalPlan) -> bool {
        self.shared.contains(plan)
    }

    /// The stream `plan` was planned into in `context`, if it was.
    pub(crate) fn planned(&self, plan: &LogicalPlan, context: Context) -> Option<&Stream> {
        self.planned
            .get(plan)?
            .iter()
            .find(|p| p.context == context)
            .map(|p| &p.stream)
    }

    /// Records the stream a shared `plan` was planned into.
    pub(crate) fn record(&mut self, plan: &LogicalPlan, context: Context, stream: Stream) {
        self.planned
            .entry(plan.clone())
            .or_default()
            .push(Planned { stream, context });
    }
}

/// Counts each sub-plan's occurrences; the parts of a repeated one only once
/// (it is planned once, with them).
fn count<'a>(plan: &'a LogicalPlan, seen: &mut HashMap<&'a LogicalPlan, usize>) {
    let n = seen.entry(plan).or_insert(0);
    *n += 1;
    if *n > 1 {
        return;
    }
    for input in plan.inputs() {
        count(input, seen);
    }
}

/// Chains each vertex fed only by a forward edge from a vertex with no other
/// output into that vertex, and removes each vertex without a source or
/// operators fed by a forward edge (its outputs leave from its input
/// instead), until neither applies. Vertex ids are renumbered in order.
pub(crate) fn collapse_forward_chains(vertices: &mut Vec<Vertex>, edges: &mut Vec<Edge>) {
    while let Some((up, down)) = find_collapsible(vertices, edges) {
        let empty = vertices[down].source.is_none() && vertices[down].operators.is_empty();
        if !empty {
            let taken = std::mem::take(&mut vertices[down].operators);
            let name = std::mem::take(&mut vertices[down].name);
            let v = &mut vertices[up];
            v.operators.extend(taken);
            v.name = if v.name.is_empty() {
                name
            } else {
                format!("{} -> {name}", v.name)
            };
        }
        edges.retain(|e| !(e.from == up && e.to == down));
        for e in edges.iter_mut().filter(|e| e.from == down) {
            e.from = up;
        }
        remove_vertex(vertices, edges, down);
    }
}

/// A forward edge `up -> down` that [`collapse_forward_chains`] folds.
fn find_collapsible(vertices: &[Vertex], edges: &[Edge]) -> Option<(usize, usize)> {
    edges.iter().find_map(|e| {
        if !matches!(e.partitioning, Partitioning::Forward) || e.from == e.to {
            return None;
        }
        let (up, down) = (vertices.get(e.from)?, vertices.get(e.to)?);
        if up.parallelism != down.parallelism || down.source.is_some() {
            return None;
        }
        let inputs_of_down = edges.iter().filter(|x| x.to == e.to).count();
        if inputs_of_down != 1 {
            return None;
        }
        let outputs_of_up = edges.iter().filter(|x| x.from == e.from).count();
        let empty = down.operators.is_empty();
        // An empty vertex's outputs move to `up`; not where `up` already
        // feeds the same vertex (two edges between one pair would double it).
        let doubles = edges
            .iter()
            .filter(|x| x.from == e.to)
            .any(|x| edges.iter().any(|y| y.from == e.from && y.to == x.to));
        (outputs_of_up == 1 || (empty && !doubles)).then_some((e.from, e.to))
    })
}

/// Removes vertex `id` (no edge touches it any more) and renumbers the rest.
fn remove_vertex(vertices: &mut Vec<Vertex>, edges: &mut [Edge], id: usize) {
    vertices.remove(id);
    for (i, v) in vertices.iter_mut().enumerate() {
        v.id = i;
    }
    for e in edges.iter_mut() {
        if e.from > id {
            e.from -= 1;
        }
        if e.to > id {
            e.to -= 1;
        }
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
        CREATE TABLE src (kind INT, k BIGINT, v BIGINT, ts TIMESTAMP(3),
                          WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
            WITH ('connector' = 'datagen', 'number-of-rows' = '10');
        CREATE VIEW a AS SELECT k, v, ts FROM src WHERE kind = 0;
        CREATE VIEW b AS SELECT k, v, ts FROM src WHERE kind = 1;
        CREATE TABLE o (k BIGINT, v BIGINT) WITH ('connector' = 'blackhole');
        CREATE TABLE o2 (k BIGINT, v BIGINT) WITH ('connector' = 'blackhole');";

    fn explain(config: &[(&str, &str)], sql: &str) -> String {
        let mut c = Configuration::new();
        for (k, v) in config {
            c.set(*k, *v);
        }
        Session::new(c)
            .explain_script(
                &format!("{TABLES}\n{sql}"),
                &Arc::new(JobMetrics::default()),
            )
            .unwrap()
    }

    fn physical(text: &str) -> &str {
        &text[text.find("== Physical Execution Plan ==").unwrap()..]
    }

    #[test]
    fn two_views_of_one_table_share_its_source() {
        let join = "INSERT INTO o SELECT a.k, b.v FROM a JOIN b ON a.k = b.k;";
        let text = explain(&[], join);
        let plan = physical(&text);
        assert_eq!(plan.matches("Source: datagen").count(), 1, "{plan}");
        // One source vertex, a branch per view (each its own chain), the join.
        assert!(
            plan.contains("Vertex 0 [parallelism=1]: Source: src[datagen]\n"),
            "{plan}"
        );
        assert_eq!(plan.matches("<- Vertex 0 via FORWARD").count(), 2, "{plan}");
        let off = explain(&[("table.optimizer.reuse-sub-plan-enabled", "false")], join);
        assert_eq!(
            physical(&off).matches("Source: datagen").count(),
            2,
            "{off}"
        );
    }

    #[test]
    fn a_repeated_aggregate_is_planned_once_and_a_single_reader_stays_chained() {
        let per_key = "(SELECT k, COUNT(*) AS n FROM a GROUP BY k)";
        let text = explain(
            &[],
            &format!(
                "INSERT INTO o SELECT x.k, y.n FROM {per_key} x JOIN {per_key} y
                 ON x.k = y.k AND x.n < y.n;"
            ),
        );
        let plan = physical(&text);
        assert_eq!(plan.matches("GroupAggregate:").count(), 1, "{plan}");
        assert_eq!(plan.matches("Source: datagen").count(), 1, "{plan}");
        // The source's only reader is the aggregate's exchange: no branch.
        assert!(!plan.contains("Vertex 0 via FORWARD"), "{plan}");
    }

    #[test]
    fn statements_of_one_set_share_a_source() {
        let text = explain(
            &[],
            "EXECUTE STATEMENT SET BEGIN
               INSERT INTO o SELECT k, v FROM a;
               INSERT INTO o2 SELECT k, v FROM a WHERE v > 0;
             END;",
        );
        let plan = physical(&text);
        assert_eq!(plan.matches("Source: datagen").count(), 1, "{plan}");
        assert_eq!(plan.matches("Sink: table=").count(), 2, "{plan}");
    }
}
