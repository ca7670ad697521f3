//! Flink's names for the columns of a SELECT list.
//!
//! Flink (Calcite) names an unaliased select item after the item itself
//! only when it is a column reference: `SELECT bid.auction FROM t` gives a
//! column named `auction`, whether `bid` is a table alias or a ROW column.
//! Every other unaliased item is named `EXPR$<i>`, after its position `i`
//! in the select list (from 0): `SELECT CAST(name AS INT), name` gives
//! `EXPR$0, name`.
//!
//! DataFusion names a field access after the whole expression
//! (`t.bid[auction]`), and a cast or other wrapper after what it wraps (so
//! `CAST(name AS INT)` is also called `name`, and the projection is refused
//! for duplicate names, where Flink accepts it). Before planning, each such
//! item gets its Flink name as an explicit alias, so views, derived tables,
//! the SQL client's headers and error messages all see Flink's names.

use std::ops::ControlFlow;

use datafusion_sql::sqlparser::ast::{
    Expr, Ident, Query, SelectItem, SetExpr, Statement, Value, VisitMut, VisitorMut,
};

struct FieldNames;

/// Flink's name for an unaliased select item at `position`, or `None` when
/// DataFusion already names it the same way (a plain column reference).
fn flink_name(expr: &Expr, position: usize) -> Option<Ident> {
    let mut e = expr;
    while let Expr::Nested(inner) = e {
        e = inner;
    }
    match e {
        Expr::Identifier(_) => None,
        Expr::CompoundIdentifier(parts) => parts.last().cloned(),
        _ => Some(Ident::new(format!("EXPR${position}"))),
    }
}

fn alias_items(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for (position, item) in select.projection.iter_mut().enumerate() {
                let SelectItem::UnnamedExpr(expr) = item else {
                    continue;
                };
                let Some(alias) = flink_name(expr, position) else {
                    continue;
                };
                let expr = std::mem::replace(expr, Expr::Value(Value::Null.with_empty_span()));
                *item = SelectItem::ExprWithAlias { expr, alias };
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

/// Applies Flink's select-list naming to a statement.
pub fn apply(statement: &mut Statement) {
    let _ = statement.visit(&mut FieldNames);
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_sql::sqlparser::parser::Parser;

    use crate::dialect::FlinkDialect;

    fn named(sql: &str) -> String {
        let mut statement = Parser::new(&FlinkDialect)
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_statement())
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        apply(&mut statement);
        statement.to_string()
    }

    #[test]
    fn unaliased_expressions_are_named_by_position() {
        assert_eq!(
            named("SELECT CAST(name AS INT), name, t.b.c, (d), e AS x, f + 1, * FROM t"),
            "SELECT CAST(name AS INT) AS EXPR$0, name, t.b.c AS c, (d), e AS x, f + 1 AS EXPR$5, * FROM t"
        );
        assert_eq!(
            named("SELECT 1 UNION ALL SELECT COUNT(*) FROM t"),
            "SELECT 1 AS EXPR$0 UNION ALL SELECT COUNT(*) AS EXPR$0 FROM t"
        );
    }
}
