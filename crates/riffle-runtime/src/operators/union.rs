//! `Union`: the rows of several inputs as one stream (`UNION ALL`). Every
//! input arrives on input 0 of the union's vertex; the operator only gives
//! each chunk the union's schema, since the inputs may name their columns
//! differently. Change kinds pass through, so updating inputs stay updating.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use riffle_common::Chunk;

use crate::Result;
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};

/// A union, as stored in the job graph.
#[derive(Debug, Clone)]
pub struct UnionFactory {
    /// The union's output schema (column types equal to every input's).
    pub schema: SchemaRef,
}

impl OperatorFactory for UnionFactory {
    fn name(&self) -> String {
        "Union".into()
    }

    fn explain(&self) -> String {
        let names: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        format!("all=[true], union=[{}]", names.join(", "))
    }

    fn create(&self, _task: &TaskInfo) -> Result<Box<dyn Operator>> {
        Ok(Box::new(Union {
            schema: Arc::clone(&self.schema),
        }))
    }
}

struct Union {
    schema: SchemaRef,
}

impl Operator for Union {
    fn process(&mut self, _input: usize, chunk: Chunk, out: &mut Output) -> Result<()> {
        let columns = chunk.data.columns().to_vec();
        out.emit(chunk.with_columns(Arc::clone(&self.schema), columns)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::aggregate::tests::{kinds_and_rows, task};
    use arrow::array::{Int64Array, RecordBatch, UInt8Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use riffle_common::{Message, RowKind};

    #[test]
    fn chunks_take_the_union_schema_and_keep_their_kinds() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let other = Arc::new(Schema::new(vec![Field::new("m", DataType::Int64, false)]));
        let batch =
            RecordBatch::try_new(other, vec![Arc::new(Int64Array::from(vec![1, 2]))]).unwrap();
        let kinds = UInt8Array::from(vec![RowKind::Insert as u8, RowKind::Delete as u8]);
        let mut op = UnionFactory {
            schema: Arc::clone(&schema),
        }
        .create(&task())
        .unwrap();
        let mut out = Output::default();
        op.process(0, Chunk::with_kinds(batch, kinds).unwrap(), &mut out)
            .unwrap();
        let out: Vec<Message> = out.drain().collect();
        assert_eq!(kinds_and_rows(&out), vec!["+I 1", "-D 2"]);
        let Some(Message::Data(c)) = out.first() else {
            panic!("no chunk")
        };
        assert_eq!(c.schema(), schema);
    }
}
