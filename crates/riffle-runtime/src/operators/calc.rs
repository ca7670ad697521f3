//! `Calc`: a filter and a projection evaluated with DataFusion's vectorized
//! physical expressions (Flink fuses both into one `Calc` node too).
//!
//! Rows keep their change kinds; a filter drops rows of any kind, which is how
//! Flink treats a `WHERE` over a changelog. Each expression runs on just the
//! input fields it reads (see [`Narrowed`]).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_physical_expr::expressions::{Column, LambdaExpr, Literal};
use datafusion_physical_expr::{HigherOrderFunctionExpr, PhysicalExpr, ScalarFunctionExpr};
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

impl CalcFactory {
    /// This Calc followed by `next` as one Calc, when that is exact and
    /// cheap: a filter then a projection, or a projection then a selection
    /// of its columns. Two filters stay apart: fused, the second would see
    /// rows the first drops (and could fail on them, e.g. dividing by zero).
    pub fn fuse(&self, next: &CalcFactory) -> Option<CalcFactory> {
        match (&self.projection, &next.predicate, &next.projection) {
            (None, None, Some(exprs)) => Some(CalcFactory {
                predicate: self.predicate.clone(),
                projection: Some(exprs.clone()),
                schema: Arc::clone(&next.schema),
            }),
            (Some(mine), None, Some(exprs)) => {
                let picked = exprs
                    .iter()
                    .map(|e| {
                        let c = e.downcast_ref::<Column>()?;
                        mine.get(c.index()).cloned()
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(CalcFactory {
                    predicate: self.predicate.clone(),
                    projection: Some(picked),
                    schema: Arc::clone(&next.schema),
                })
            }
            _ => None,
        }
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
        Ok(Box::new(Calc {
            spec: self.clone(),
            plan: None,
        }))
    }
}

/// A running `Calc`.
struct Calc {
    spec: CalcFactory,
    /// How the expressions read the input, made from the first chunk's
    /// schema; `Some(None)` evaluates them on the whole input.
    plan: Option<Option<Narrowed>>,
}

impl Operator for Calc {
    fn process(&mut self, _input: usize, chunk: Chunk, out: &mut Output) -> Result<()> {
        let plan = match &self.plan {
            Some(p) => p,
            None => self
                .plan
                .insert(Narrowed::new(&self.spec, &chunk.schema())?),
        };
        let Some(plan) = plan else {
            return whole(&self.spec, chunk, out);
        };
        let n = chunk.num_rows();
        let leaves = plan.leaves(&chunk)?;
        let Some(projection) = &plan.projection else {
            // A filter alone keeps every column, so it filters the chunk.
            let chunk = match &plan.predicate {
                None => chunk,
                Some(p) => match mask(p.evaluate(&leaves, n)?, n)? {
                    None => chunk,
                    Some(m) => chunk.filter(&m)?,
                },
            };
            if chunk.num_rows() > 0 {
                out.emit(chunk);
            }
            return Ok(());
        };
        // Filter only what the projection reads, then project.
        let (leaves, kinds, n) = match &plan.predicate {
            None => (leaves, chunk.kinds.clone(), n),
            Some(p) => match mask(p.evaluate(&leaves, n)?, n)? {
                None => (leaves, chunk.kinds.clone(), n),
                Some(m) => {
                    let kept = m.true_count();
                    let mut filtered = Vec::with_capacity(leaves.len());
                    for (slot, leaf) in leaves.iter().enumerate() {
                        filtered.push(if plan.projected.get(slot).copied().unwrap_or(false) {
                            arrow::compute::filter(leaf.as_ref(), &m)?
                        } else {
                            Arc::clone(leaf)
                        });
                    }
                    let kinds = chunk.filtered_kinds(&m)?;
                    (filtered, kinds, kept)
                }
            },
        };
        if n == 0 {
            return Ok(());
        }
        let cols = projection
            .iter()
            .map(|p| p.evaluate(&leaves, n))
            .collect::<Result<Vec<_>>>()?;
        let data = RecordBatch::try_new_with_options(
            Arc::clone(&self.spec.schema),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )?;
        out.emit(Chunk { data, kinds });
        Ok(())
    }
}

/// Filter, then project, on the whole input.
fn whole(spec: &CalcFactory, chunk: Chunk, out: &mut Output) -> Result<()> {
    let n = chunk.num_rows();
    let chunk = match &spec.predicate {
        None => chunk,
        Some(p) => match mask(p.evaluate(&chunk.data)?.into_array(n)?, n)? {
            None => chunk,
            Some(m) => chunk.filter(&m)?,
        },
    };
    if chunk.num_rows() == 0 {
        return Ok(());
    }
    match &spec.projection {
        None => out.emit(chunk),
        Some(exprs) => {
            let n = chunk.num_rows();
            let cols = exprs
                .iter()
                .map(|e| e.evaluate(&chunk.data).and_then(|v| v.into_array(n)))
                .collect::<datafusion_common::Result<Vec<_>>>()?;
            out.emit(chunk.with_columns(Arc::clone(&spec.schema), cols)?);
        }
    }
    Ok(())
}

/// The rows to keep, or `None` when the mask keeps all of them.
fn mask(array: ArrayRef, n: usize) -> Result<Option<BooleanArray>> {
    let m = array
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| Error::Internal("filter predicate is not boolean".into()))?;
    if m.true_count() == n && m.null_count() == 0 {
        return Ok(None);
    }
    // The filter kernels count NULL as false.
    Ok(Some(m.clone()))
}

/// A Calc's expressions, each evaluated on the input fields it reads.
///
/// A column or a field path into a struct column (`bid.price`) is a *leaf*:
/// reading it costs nothing (the struct's child array is shared). Everything
/// else runs on a batch of its own leaves instead of the whole input, and the
/// filter touches only the leaves the projection reads. This matters because
/// kernels that split a batch (DataFusion's `CASE` filters the whole batch per
/// branch; a filter copies every column) would otherwise copy wide struct
/// columns — the Nexmark event row — of which a query reads a few fields.
struct Narrowed {
    /// The leaves read from the input, in slot order.
    leaves: Vec<Arc<dyn PhysicalExpr>>,
    predicate: Option<Part>,
    projection: Option<Vec<Part>>,
    /// Which leaf slots the projection reads (they are filtered).
    projected: Vec<bool>,
}

/// One expression of a [`Narrowed`] Calc.
enum Part {
    /// A leaf, by slot.
    Leaf(usize),
    /// An expression over a batch of the leaves in `inputs` (slots), in order.
    Expr {
        expr: Arc<dyn PhysicalExpr>,
        inputs: Vec<usize>,
        schema: SchemaRef,
    },
}

impl Narrowed {
    /// `None` when an expression holds a lambda: its columns refer to its
    /// own rows, so it must see the input as it is.
    fn new(spec: &CalcFactory, input: &SchemaRef) -> Result<Option<Self>> {
        let exprs = spec
            .predicate
            .iter()
            .chain(spec.projection.iter().flatten());
        for e in exprs {
            let lambda = e.exists(|node| {
                Ok(node.is::<LambdaExpr>() || node.is::<HigherOrderFunctionExpr>())
            })?;
            if lambda {
                return Ok(None);
            }
        }
        let mut n = Narrowed {
            leaves: Vec::new(),
            predicate: None,
            projection: None,
            projected: Vec::new(),
        };
        let mut slots: HashMap<String, usize> = HashMap::new();
        if let Some(p) = &spec.predicate {
            n.predicate = Some(n.part(p, input, &mut slots)?);
        }
        if let Some(exprs) = &spec.projection {
            let parts = exprs
                .iter()
                .map(|e| n.part(e, input, &mut slots))
                .collect::<Result<Vec<_>>>()?;
            n.projected = vec![false; n.leaves.len()];
            for p in &parts {
                let read: &[usize] = match p {
                    Part::Leaf(s) => std::slice::from_ref(s),
                    Part::Expr { inputs, .. } => inputs,
                };
                for s in read {
                    if let Some(f) = n.projected.get_mut(*s) {
                        *f = true;
                    }
                }
            }
            n.projection = Some(parts);
        }
        Ok(Some(n))
    }

    fn part(
        &mut self,
        e: &Arc<dyn PhysicalExpr>,
        input: &SchemaRef,
        slots: &mut HashMap<String, usize>,
    ) -> Result<Part> {
        if is_leaf(e) {
            return Ok(Part::Leaf(self.slot(e, slots)));
        }
        let mut inputs: Vec<usize> = Vec::new();
        let mut fields = Vec::new();
        let expr = Arc::clone(e)
            .transform_down(|node| {
                if !is_leaf(&node) {
                    return Ok(Transformed::no(node));
                }
                let slot = self.slot(&node, slots);
                let local = match inputs.iter().position(|s| *s == slot) {
                    Some(i) => i,
                    None => {
                        inputs.push(slot);
                        fields.push(Field::new(
                            format!("leaf{slot}"),
                            node.data_type(input)?,
                            node.nullable(input)?,
                        ));
                        inputs.len() - 1
                    }
                };
                let column: Arc<dyn PhysicalExpr> =
                    Arc::new(Column::new(&format!("leaf{slot}"), local));
                Ok(Transformed::new(column, true, TreeNodeRecursion::Jump))
            })?
            .data;
        Ok(Part::Expr {
            expr,
            inputs,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    fn slot(&mut self, leaf: &Arc<dyn PhysicalExpr>, slots: &mut HashMap<String, usize>) -> usize {
        *slots.entry(leaf.to_string()).or_insert_with(|| {
            self.leaves.push(Arc::clone(leaf));
            self.leaves.len() - 1
        })
    }

    /// Reads every leaf of the chunk.
    fn leaves(&self, chunk: &Chunk) -> Result<Vec<ArrayRef>> {
        let n = chunk.num_rows();
        Ok(self
            .leaves
            .iter()
            .map(|l| l.evaluate(&chunk.data).and_then(|v| v.into_array(n)))
            .collect::<datafusion_common::Result<Vec<_>>>()?)
    }
}

impl Part {
    fn evaluate(&self, leaves: &[ArrayRef], n: usize) -> Result<ArrayRef> {
        let missing = || Error::Internal("Calc leaf slot out of range".into());
        match self {
            Part::Leaf(s) => leaves.get(*s).cloned().ok_or_else(missing),
            Part::Expr {
                expr,
                inputs,
                schema,
            } => {
                let cols = inputs
                    .iter()
                    .map(|s| leaves.get(*s).cloned().ok_or_else(missing))
                    .collect::<Result<Vec<_>>>()?;
                let batch = RecordBatch::try_new_with_options(
                    Arc::clone(schema),
                    cols,
                    &RecordBatchOptions::new().with_row_count(Some(n)),
                )?;
                Ok(expr.evaluate(&batch)?.into_array(n)?)
            }
        }
    }
}

/// Whether `e` is a column or a field path into one (`get_field(col, 'a', ...)`).
fn is_leaf(e: &Arc<dyn PhysicalExpr>) -> bool {
    if e.is::<Column>() {
        return true;
    }
    match e.downcast_ref::<ScalarFunctionExpr>() {
        Some(f) if f.name() == "get_field" => match f.args().split_first() {
            Some((base, names)) => {
                !names.is_empty() && is_leaf(base) && names.iter().all(|a| a.is::<Literal>())
            }
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray, StructArray, UInt8Array};
    use arrow::buffer::NullBuffer;
    use arrow::datatypes::DataType;
    use datafusion_common::ScalarValue;
    use datafusion_common::config::ConfigOptions;
    use datafusion_expr::Operator as Op;
    use datafusion_physical_expr::expressions::{BinaryExpr, CaseExpr};
    use riffle_common::Message;

    use super::*;
    use crate::operators::aggregate::tests::task;

    /// `k BIGINT, s ROW<a BIGINT, b STRING>` (some rows NULL), `w STRING`;
    /// change kinds +I, -U, +U, -D in turn.
    fn input(n: i64) -> Chunk {
        let a: ArrayRef = Arc::new(Int64Array::from_iter_values((0..n).map(|i| i * 7)));
        let b: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("b{i}")),
        ));
        let fields = vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ];
        let nulls = NullBuffer::from_iter((0..n).map(|i| i % 5 != 4));
        let s = StructArray::new(fields.clone().into(), vec![a, b], Some(nulls));
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("s", DataType::Struct(fields.into()), true),
            Field::new("w", DataType::Utf8, false),
        ]));
        let data = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(s),
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("w{i}")),
                )),
            ],
        )
        .unwrap();
        let kinds = UInt8Array::from_iter_values((0..n).map(|i| (i % 4) as u8));
        Chunk::with_kinds(data, kinds).unwrap()
    }

    fn col(name: &str, i: usize) -> Arc<dyn PhysicalExpr> {
        Arc::new(Column::new(name, i))
    }

    fn lit(v: i64) -> Arc<dyn PhysicalExpr> {
        Arc::new(Literal::new(ScalarValue::Int64(Some(v))))
    }

    fn bin(l: Arc<dyn PhysicalExpr>, op: Op, r: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
        Arc::new(BinaryExpr::new(l, op, r))
    }

    fn field(name: &str, schema: &Schema) -> Arc<dyn PhysicalExpr> {
        let name: Arc<dyn PhysicalExpr> = Arc::new(Literal::new(ScalarValue::from(name)));
        Arc::new(
            ScalarFunctionExpr::try_new(
                datafusion_functions::core::get_field(),
                vec![col("s", 1), name],
                schema,
                Arc::new(ConfigOptions::default()),
            )
            .unwrap(),
        )
    }

    fn run(calc: &CalcFactory, chunk: Chunk) -> Vec<Chunk> {
        let mut op = calc.create(&task()).unwrap();
        let mut out = Output::default();
        op.process(0, chunk, &mut out).unwrap();
        out.drain()
            .map(|m| match m {
                Message::Data(c) => c,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    fn expected(calc: &CalcFactory, chunk: Chunk) -> Vec<Chunk> {
        let mut out = Output::default();
        whole(calc, chunk, &mut out).unwrap();
        out.drain()
            .map(|m| match m {
                Message::Data(c) => c,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    fn same(a: &[Chunk], b: &[Chunk]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.data, y.data);
            assert_eq!(x.kinds, y.kinds);
        }
    }

    #[test]
    fn expressions_on_their_own_fields_give_what_the_whole_input_gives() {
        let chunk = input(50);
        let schema = chunk.schema();
        // CASE WHEN k % 3 = 0 THEN s.a ELSE k * 10 END
        let case: Arc<dyn PhysicalExpr> = Arc::new(
            CaseExpr::try_new(
                None,
                vec![(
                    bin(bin(col("k", 0), Op::Modulo, lit(3)), Op::Eq, lit(0)),
                    field("a", &schema),
                )],
                Some(bin(col("k", 0), Op::Multiply, lit(10))),
            )
            .unwrap(),
        );
        let out_schema = Arc::new(Schema::new(vec![
            Field::new("c", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
            Field::new("w", DataType::Utf8, false),
            Field::new("a2", DataType::Int64, true),
        ]));
        let projection = vec![
            case,
            field("b", &schema),
            col("w", 2),
            bin(field("a", &schema), Op::Plus, col("k", 0)),
        ];
        // WHERE s.a > 40 (NULL for the NULL structs: those rows go too)
        let predicate = bin(field("a", &schema), Op::Gt, lit(40));
        for (pred, proj) in [
            (Some(Arc::clone(&predicate)), Some(projection.clone())),
            (None, Some(projection.clone())),
            (Some(Arc::clone(&predicate)), None),
        ] {
            let s = if proj.is_some() {
                Arc::clone(&out_schema)
            } else {
                Arc::clone(&schema)
            };
            let calc = CalcFactory::try_new(pred, proj, s).unwrap();
            let got = run(&calc, chunk.clone());
            same(&got, &expected(&calc, chunk.clone()));
            assert!(!got.is_empty());
        }
        // A filter that keeps nothing emits nothing.
        let none = bin(col("k", 0), Op::Lt, lit(0));
        let calc =
            CalcFactory::try_new(Some(none), Some(projection), Arc::clone(&out_schema)).unwrap();
        assert!(run(&calc, chunk).is_empty());
    }

    #[test]
    fn fusing_keeps_the_result_and_two_filters_stay_apart() {
        let chunk = input(40);
        let schema = chunk.schema();
        let filter = CalcFactory::try_new(
            Some(bin(col("k", 0), Op::Gt, lit(10))),
            None,
            Arc::clone(&schema),
        )
        .unwrap();
        let mid_schema = Arc::new(Schema::new(vec![
            Field::new("w", DataType::Utf8, false),
            Field::new("a", DataType::Int64, true),
        ]));
        let project = CalcFactory::try_new(
            None,
            Some(vec![col("w", 2), field("a", &schema)]),
            Arc::clone(&mid_schema),
        )
        .unwrap();
        let out_schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
        let select =
            CalcFactory::try_new(None, Some(vec![col("a", 1)]), Arc::clone(&out_schema)).unwrap();

        let fused = filter.fuse(&project).unwrap().fuse(&select).unwrap();
        let step = |c: &CalcFactory, chunks: Vec<Chunk>| -> Vec<Chunk> {
            chunks.into_iter().flat_map(|ch| run(c, ch)).collect()
        };
        let apart = step(&select, step(&project, step(&filter, vec![chunk.clone()])));
        same(&run(&fused, chunk), &apart);

        assert!(filter.fuse(&filter).is_none());
        // A projection then a computed column is not fused either.
        let computed = CalcFactory::try_new(
            None,
            Some(vec![bin(col("a", 1), Op::Plus, lit(1))]),
            out_schema,
        )
        .unwrap();
        assert!(project.fuse(&computed).is_none());
    }
}
