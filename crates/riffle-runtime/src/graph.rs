//! The job graph: vertices (operator chains with a parallelism) and edges
//! (how rows move between them).
//!
//! A vertex is one chain of operators that runs in one thread per subtask:
//! optionally a source at its head, then operators. Sinks are operators too
//! (the last of a chain). Chaining happens wherever the exchange would be
//! forward with equal parallelism, so the only edges are the real
//! redistributions: hash (by key group), rebalance, broadcast or to a single
//! subtask.

use std::sync::Arc;

use datafusion_physical_expr::PhysicalExpr;
use riffle_common::config::JobConfig;

use crate::connector::SourceFactory;
use crate::operator::OperatorFactory;

/// How rows of an edge are distributed over the downstream subtasks.
#[derive(Debug, Clone)]
pub enum Partitioning {
    /// Subtask i sends to subtask i (equal parallelism).
    Forward,
    /// By key group of the key expressions, evaluated on the upstream rows.
    Hash(Vec<Arc<dyn PhysicalExpr>>),
    /// Round robin.
    Rebalance,
    /// Every row to every subtask.
    Broadcast,
    /// Everything to subtask 0 (a global operator).
    Single,
}

impl Partitioning {
    /// The name Flink's plan JSON uses for the ship strategy.
    pub fn ship_strategy(&self) -> &'static str {
        match self {
            Partitioning::Forward => "FORWARD",
            Partitioning::Hash(_) => "HASH",
            Partitioning::Rebalance => "REBALANCE",
            Partitioning::Broadcast => "BROADCAST",
            Partitioning::Single => "GLOBAL",
        }
    }
}

/// One vertex: a chain of operators, optionally headed by a source.
#[derive(Debug, Clone)]
pub struct Vertex {
    /// Index in [`JobGraph::vertices`].
    pub id: usize,
    /// Display name (the chain's operator names joined by ` -> `).
    pub name: String,
    /// Number of subtasks.
    pub parallelism: usize,
    /// The source at the head of the chain, if any.
    pub source: Option<Arc<dyn SourceFactory>>,
    /// The chained operators, in order.
    pub operators: Vec<Arc<dyn OperatorFactory>>,
}

/// An edge between two vertices.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Upstream vertex.
    pub from: usize,
    /// Downstream vertex.
    pub to: usize,
    /// Which input of the downstream head operator (0, or 1 for the right side of a join).
    pub input: usize,
    /// How rows are distributed.
    pub partitioning: Partitioning,
}

/// A whole job.
#[derive(Debug, Clone)]
pub struct JobGraph {
    /// Job name (`pipeline.name` or derived from the sinks).
    pub name: String,
    /// Vertices in topological order (sources first).
    pub vertices: Vec<Vertex>,
    /// Edges.
    pub edges: Vec<Edge>,
    /// The job's configuration, resolved once by the planner session.
    pub config: Arc<JobConfig>,
}

impl JobGraph {
    /// Edges into `vertex`.
    pub fn inputs_of(&self, vertex: usize) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.to == vertex)
    }

    /// Edges out of `vertex`.
    pub fn outputs_of(&self, vertex: usize) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.from == vertex)
    }

    /// Sets the parallelism of the vertices `overrides` names, by id (`id_of`
    /// gives a vertex's id) or by index in the graph (`0` is the first
    /// vertex: what the operator's autoscaler writes, since ids change with
    /// every job), as `pipeline.jobvertex-parallelism-overrides` asks. A
    /// vertex fed by a single-subtask exchange (a global operator) keeps
    /// parallelism 1; keys of no vertex are ignored, as in Flink. Returns the
    /// vertices changed.
    pub fn apply_parallelism_overrides(
        &mut self,
        id_of: impl Fn(usize) -> String,
        overrides: &std::collections::BTreeMap<String, usize>,
    ) -> Result<Vec<usize>, String> {
        let mut changed = Vec::new();
        for i in 0..self.vertices.len() {
            let Some(&p) = overrides
                .get(&id_of(i))
                .or_else(|| overrides.get(&i.to_string()))
            else {
                continue;
            };
            if p == self.vertices[i].parallelism {
                continue;
            }
            let global = self
                .inputs_of(i)
                .any(|e| matches!(e.partitioning, Partitioning::Single));
            if global {
                return Err(format!(
                    "pipeline.jobvertex-parallelism-overrides: vertex {} ({}) runs a global \
                     operator, whose parallelism is 1, not {p}",
                    id_of(i),
                    self.vertices[i].name
                ));
            }
            self.vertices[i].parallelism = p;
            changed.push(i);
        }
        // A forward edge pairs subtasks one to one: between vertices that
        // now differ it becomes a rebalance.
        for e in &mut self.edges {
            if matches!(e.partitioning, Partitioning::Forward)
                && self.vertices[e.from].parallelism != self.vertices[e.to].parallelism
            {
                e.partitioning = Partitioning::Rebalance;
            }
        }
        Ok(changed)
    }

    /// A human-readable rendering of the graph (the physical part of
    /// EXPLAIN), literals written as Flink SQL writes them.
    pub fn explain(&self) -> String {
        let mut s = String::new();
        for v in &self.vertices {
            s.push_str(&format!(
                "Vertex {} [parallelism={}]: {}\n",
                v.id, v.parallelism, v.name
            ));
            if let Some(src) = &v.source {
                s.push_str(&format!("  Source: {}\n", src.connector()));
            }
            for op in &v.operators {
                s.push_str(&format!("  {}: {}\n", op.name(), op.explain()));
            }
            for e in self.inputs_of(v.id) {
                s.push_str(&format!(
                    "  <- Vertex {} via {}{}\n",
                    e.from,
                    e.partitioning.ship_strategy(),
                    match &e.partitioning {
                        Partitioning::Hash(k) => format!(
                            "({})",
                            k.iter()
                                .map(|e| e.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        _ => String::new(),
                    }
                ));
            }
        }
        crate::display::readable_literals(&s)
    }
}
