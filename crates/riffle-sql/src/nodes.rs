//! Streaming extension nodes of the logical plan.
//!
//! [`WatermarkNode`] marks where a table's `WATERMARK FOR` applies: right
//! above the source and its computed columns. It passes its input through
//! unchanged, keeps the rowtime column and the columns of the watermark
//! expression alive through projection pruning, and becomes the runtime's
//! watermark assigner.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use datafusion_common::{DFSchemaRef, Result};
use datafusion_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};

/// `WATERMARK FOR rowtime AS expr` over its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatermarkNode {
    /// The source and computed columns.
    pub input: LogicalPlan,
    /// Name of the rowtime column.
    pub rowtime: String,
    /// The watermark expression over the input's columns.
    pub expr: Expr,
}

impl Hash for WatermarkNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.rowtime.hash(state);
        self.expr.hash(state);
    }
}

impl PartialOrd for WatermarkNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.rowtime.partial_cmp(&other.rowtime)
    }
}

impl UserDefinedLogicalNodeCore for WatermarkNode {
    fn name(&self) -> &str {
        "WatermarkAssigner"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![self.expr.clone()]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "WatermarkAssigner: rowtime=[{}], watermark=[{}]",
            self.rowtime, self.expr
        )
    }

    fn with_exprs_and_inputs(
        &self,
        mut exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let expr = exprs.pop().unwrap_or_else(|| self.expr.clone());
        let input = inputs.pop().unwrap_or_else(|| self.input.clone());
        Ok(WatermarkNode {
            input,
            rowtime: self.rowtime.clone(),
            expr,
        })
    }

    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        let schema = self.input.schema();
        let mut needed: Vec<usize> = output_columns.to_vec();
        let mut add = |name: &str| {
            if let Some(i) = schema.fields().iter().position(|f| f.name() == name)
                && !needed.contains(&i)
            {
                needed.push(i);
            }
        };
        add(&self.rowtime);
        for c in self.expr.column_refs() {
            add(&c.name);
        }
        needed.sort_unstable();
        Some(vec![needed])
    }
}
