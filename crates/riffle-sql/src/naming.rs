//! Flink's column naming for field access.
//!
//! In Flink, `SELECT bid.auction FROM t` produces a column named `auction`,
//! whether `bid` is a table alias or a ROW column. DataFusion names a field
//! access after the whole expression (`t.bid[auction]`), which views and
//! derived tables would then expose. Before planning, every unaliased
//! compound identifier in a SELECT list gets its last part as alias; for a
//! qualified column that is its own name, so nothing else changes.

use std::ops::ControlFlow;

use datafusion_sql::sqlparser::ast::{
    Expr, Query, SelectItem, SetExpr, Statement, VisitMut, VisitorMut,
};

struct FieldNames;

fn alias_items(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) = item
                    && let Some(last) = parts.last().cloned()
                {
                    let expr = Expr::CompoundIdentifier(parts.clone());
                    *item = SelectItem::ExprWithAlias { expr, alias: last };
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            alias_items(left);
            alias_items(right);
        }
        _ => {}
    }
}

impl VisitorMut for FieldNames {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        alias_items(&mut query.body);
        ControlFlow::Continue(())
    }
}

/// Applies Flink's field-access naming to a statement.
pub fn apply(statement: &mut Statement) {
    let _ = statement.visit(&mut FieldNames);
}
