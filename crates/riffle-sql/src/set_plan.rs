//! Planning `UNION ALL`: every input feeds input 0 of one vertex whose
//! `Union` operator gives the rows the union's schema. (`UNION`, with
//! duplicates removed, arrives here as a `DISTINCT` over the union: a group
//! aggregate on every column above this vertex.)
//!
//! The inputs reach the vertex without a shuffle when they run at its
//! parallelism. An append-only input at another parallelism (a source) is
//! spread round-robin; an updating one cannot be: a key's retraction and
//! its update could take different paths and overtake each other.

use std::sync::Arc;

use datafusion_expr::logical_plan::Union;
use riffle_runtime::Partitioning;
use riffle_runtime::operators::UnionFactory;

use crate::physical::{Builder, Stream, arrow_schema};
use crate::{Error, Result};

impl Builder {
    pub(crate) fn plan_union(&mut self, u: &Union) -> Result<Stream> {
        let inputs = u
            .inputs
            .iter()
            .map(|i| self.plan(i))
            .collect::<Result<Vec<Stream>>>()?;
        let parallelism = self.parallelism;
        let mut vertex = None;
        for input in &inputs {
            let partitioning = if self.vertex_parallelism(input) == parallelism {
                Partitioning::Forward
            } else if let Some(u) = &input.updates_from {
                return Err(Error::unsupported(format!(
                    "UNION ALL of an updating input (from {u}) that runs at another parallelism \
                     than the union ({parallelism})"
                )));
            } else {
                Partitioning::Rebalance
            };
            match vertex {
                None => vertex = Some(self.exchange_vertex(input, partitioning, parallelism)),
                Some(v) => self.add_edge(input, v, 0, partitioning),
            }
        }
        let v = vertex.ok_or_else(|| Error::plan("a UNION without inputs"))?;
        self.push(
            v,
            Arc::new(UnionFactory {
                schema: arrow_schema(&u.schema),
            }),
        );
        Ok(Stream {
            vertex: v,
            updates_from: inputs.iter().find_map(|i| i.updates_from.clone()),
        })
    }
}
