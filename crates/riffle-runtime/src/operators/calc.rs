//! `Calc`: a filter and a projection evaluated with DataFusion's vectorized
//! physical expressions (Flink fuses both into one `Calc` node too).
//!
//! Rows keep their change kinds; a filter drops rows of any kind, which is how
//! Flink treats a `WHERE` over a changelog.

use std::sync::Arc;

use arrow::array::{Array, BooleanArray};
use arrow::datatypes::SchemaRef;
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::Chunk;

use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
use crate::{Error, Result};

/// Filter-then-project, as stored in the job graph.
#[derive(Debug, Clone)]
pub struct CalcFactory {
    /// Keeps rows where this is true (NULL counts as false).
    pub predicate: Option<Arc<dyn PhysicalExpr>>,
    /// Output columns, evaluated on the filtered rows; `None` keeps the input columns.
    pub projection: Option<Vec<Arc<dyn PhysicalExpr>>>,
    /// Schema of the output.
    pub schema: SchemaRef,
}

impl CalcFactory {
    /// Validates that the projection matches the schema.
    pub fn try_new(
        predicate: Option<Arc<dyn PhysicalExpr>>,
        projection: Option<Vec<Arc<dyn PhysicalExpr>>>,
        schema: SchemaRef,
    ) -> Result<Self> {
        if let Some(p) = &projection
            && p.len() != schema.fields().len()
        {
            return Err(Error::Internal(format!(
                "Calc projects {} expressions into {} columns",
                p.len(),
                schema.fields().len()
            )));
        }
        Ok(CalcFactory {
            predicate,
            projection,
            schema,
        })
    }
}

impl OperatorFactory for CalcFactory {
    fn name(&self) -> String {
        "Calc".into()
    }

    fn explain(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.projection {
            let cols: Vec<String> = p
                .iter()
                .zip(self.schema.fields())
                .map(|(e, f)| format!("{e} AS {}", f.name()))
                .collect();
            parts.push(format!("select=[{}]", cols.join(", ")));
        }
        if let Some(p) = &self.predicate {
            parts.push(format!("where=[{p}]"));
        }
        parts.join(", ")
    }

    fn create(&self, _task: &TaskInfo) -> Result<Box<dyn Operator>> {
        Ok(Box::new(Calc { spec: self.clone() }))
    }
}

/// A running `Calc`.
struct Calc {
    spec: CalcFactory,
}

impl Operator for Calc {
    fn process(&mut self, _input: usize, chunk: Chunk, out: &mut Output) -> Result<()> {
        let chunk = match &self.spec.predicate {
            None => chunk,
            Some(p) => {
                let mask = p.evaluate(&chunk.data)?.into_array(chunk.num_rows())?;
                let mask = mask
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .ok_or_else(|| Error::Internal("filter predicate is not boolean".into()))?;
                if mask.true_count() == chunk.num_rows() && mask.null_count() == 0 {
                    chunk
                } else {
                    chunk.filter(mask)?
                }
            }
        };
        if chunk.num_rows() == 0 {
            return Ok(());
        }
        match &self.spec.projection {
            None => out.emit(chunk),
            Some(exprs) => {
                let n = chunk.num_rows();
                let cols = exprs
                    .iter()
                    .map(|e| e.evaluate(&chunk.data).and_then(|v| v.into_array(n)))
                    .collect::<datafusion_common::Result<Vec<_>>>()?;
                out.emit(chunk.with_columns(Arc::clone(&self.spec.schema), cols)?);
            }
        }
        Ok(())
    }
}
