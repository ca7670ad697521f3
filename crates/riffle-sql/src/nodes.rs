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

use std::sync::Arc;

use datafusion_common::{DFSchemaRef, Result};
use datafusion_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};
use riffle_runtime::operators::window_tvf::WindowKind;

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

/// What kind of time a time attribute measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum TimeAttribute {
    /// Event time: the column a `WATERMARK FOR` names.
    Rowtime,
    /// Processing time: a `PROCTIME()` column.
    Proctime,
}

/// A window table function (`TUMBLE`, `HOP`, `CUMULATE`, `SESSION`) over its
/// input: the input's columns plus `window_start`, `window_end` and
/// `window_time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowTvfNode {
    /// The table the windows are assigned over.
    pub input: LogicalPlan,
    /// The windows.
    pub kind: WindowKindSpec,
    /// The `DESCRIPTOR` column.
    pub time_col: String,
    /// Whether the time column is event or processing time.
    pub time_attribute: TimeAttribute,
    /// `SESSION(TABLE t PARTITION BY ...)` column names.
    pub partition_keys: Vec<String>,
    schema: DFSchemaRef,
}

/// The window sizes, in milliseconds (a mirror of the runtime's
/// `WindowKind` that can live in a logical plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum WindowKindSpec {
    /// `TUMBLE`.
    Tumble { size: i64, offset: i64 },
    /// `HOP`.
    Hop { slide: i64, size: i64, offset: i64 },
    /// `CUMULATE`.
    Cumulate { step: i64, size: i64, offset: i64 },
    /// `SESSION`.
    Session { gap: i64 },
}

impl WindowKindSpec {
    /// The runtime's window of the same sizes.
    pub(crate) fn runtime(self) -> WindowKind {
        match self {
            WindowKindSpec::Tumble { size, offset } => WindowKind::Tumble { size, offset },
            WindowKindSpec::Hop {
                slide,
                size,
                offset,
            } => WindowKind::Hop {
                slide,
                size,
                offset,
            },
            WindowKindSpec::Cumulate { step, size, offset } => {
                WindowKind::Cumulate { step, size, offset }
            }
            WindowKindSpec::Session { gap } => WindowKind::Session { gap },
        }
    }
}

/// As the runtime's window prints in EXPLAIN (Flink's form, `TUMBLE(size=[10 s])`).
impl fmt::Display for WindowKindSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.runtime().fmt(f)
    }
}

impl WindowTvfNode {
    /// Builds the node; fails if the time column is missing or not a timestamp.
    pub fn try_new(
        input: LogicalPlan,
        kind: WindowKindSpec,
        time_col: String,
        time_attribute: TimeAttribute,
        partition_keys: Vec<String>,
    ) -> Result<Self> {
        use arrow::datatypes::{DataType, Field, TimeUnit};
        let field = input
            .schema()
            .fields()
            .iter()
            .find(|f| f.name() == &time_col)
            .cloned()
            .ok_or_else(|| {
                datafusion_common::DataFusionError::Plan(format!(
                    "Column '{time_col}' not found in the window function's input"
                ))
            })?;
        let (window_type, time_type) = match field.data_type() {
            DataType::Timestamp(_, None) => (
                DataType::Timestamp(TimeUnit::Millisecond, None),
                DataType::Timestamp(TimeUnit::Millisecond, None),
            ),
            DataType::Timestamp(_, Some(tz)) => (
                DataType::Timestamp(TimeUnit::Millisecond, None),
                DataType::Timestamp(TimeUnit::Millisecond, Some(Arc::clone(tz))),
            ),
            other => {
                return Err(datafusion_common::DataFusionError::Plan(format!(
                    "The window function requires the timecol to be a time attribute of type TIMESTAMP or TIMESTAMP_LTZ, but '{time_col}' is {other}"
                )));
            }
        };
        let extra = arrow::datatypes::Schema::new(vec![
            Field::new("window_start", window_type.clone(), false),
            Field::new("window_end", window_type, false),
            Field::new("window_time", time_type, false),
        ]);
        let extra = datafusion_common::DFSchema::try_from(extra)?;
        let schema = Arc::new(input.schema().join(&extra)?);
        Ok(WindowTvfNode {
            input,
            kind,
            time_col,
            time_attribute,
            partition_keys,
            schema,
        })
    }

    /// Whether the time column is a `TIMESTAMP_LTZ`.
    pub fn is_ltz(&self) -> bool {
        self.schema.fields().iter().next_back().is_some_and(|f| {
            matches!(
                f.data_type(),
                arrow::datatypes::DataType::Timestamp(_, Some(_))
            )
        })
    }
}

impl Hash for WindowTvfNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.kind.hash(state);
        self.time_col.hash(state);
    }
}

impl PartialOrd for WindowTvfNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self.kind, &self.time_col).partial_cmp(&(other.kind, &other.time_col))
    }
}

impl UserDefinedLogicalNodeCore for WindowTvfNode {
    fn name(&self) -> &str {
        "WindowTableFunction"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "WindowTableFunction: window=[{}], time_col=[{}]",
            self.kind, self.time_col
        )
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let input = inputs.pop().unwrap_or_else(|| self.input.clone());
        WindowTvfNode::try_new(
            input,
            self.kind,
            self.time_col.clone(),
            self.time_attribute,
            self.partition_keys.clone(),
        )
    }

    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        let input = self.input.schema();
        let n = input.fields().len();
        let mut needed: Vec<usize> = output_columns.iter().copied().filter(|i| *i < n).collect();
        let mut add = |name: &str| {
            if let Some(i) = input.fields().iter().position(|f| f.name() == name)
                && !needed.contains(&i)
            {
                needed.push(i);
            }
        };
        add(&self.time_col);
        for k in &self.partition_keys {
            add(k);
        }
        needed.sort_unstable();
        Some(vec![needed])
    }
}
