//! Legacy group windows: `GROUP BY TUMBLE(ts, INTERVAL ...)` (and `HOP`,
//! `SESSION`) with `TUMBLE_START(...)`, `TUMBLE_END(...)`, `TUMBLE_ROWTIME(...)`
//! in the select list, rewritten before planning into the window table
//! function form:
//!
//! ```sql
//! SELECT B.bidder, count(*), SESSION_START(B.ts, INTERVAL '10' SECOND)
//! FROM bid B GROUP BY B.bidder, SESSION(B.ts, INTERVAL '10' SECOND)
//! -- becomes
//! SELECT B.bidder, count(*), B.window_start
//! FROM TABLE(SESSION(TABLE bid PARTITION BY (bidder), DESCRIPTOR(ts), INTERVAL '10' SECOND)) B
//! GROUP BY B.bidder, B.window_start, B.window_end
//! ```
//!
//! Both forms then share one planner and one set of operators. Legacy
//! session windows are per group key, so the rewrite partitions the session
//! function by all other group keys.

use std::ops::ControlFlow;

use datafusion_sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, Query, Select,
    SetExpr, Statement, TableFactor, VisitMut, VisitorMut, visit_expressions_mut,
};
use datafusion_sql::sqlparser::parser::Parser;

use crate::dialect::FlinkDialect;

const WINDOWS: [&str; 3] = ["TUMBLE", "HOP", "SESSION"];

struct Rewriter {
    error: Option<String>,
}

/// The window call of a GROUP BY, if it is a legacy one.
fn legacy_window(e: &Expr) -> Option<(String, Vec<Expr>)> {
    let Expr::Function(f) = e else {
        return None;
    };
    let name = f.name.to_string().to_ascii_uppercase();
    if !WINDOWS.contains(&name.as_str()) {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let args: Vec<Expr> = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    // A table argument means the table-function form, not a legacy window.
    if args.len() < 2 || matches!(args.first(), Some(Expr::Function(_))) {
        return None;
    }
    Some((name, args))
}

/// `(qualifier, column)` of a time attribute reference.
fn split_column(e: &Expr) -> Option<(Option<Ident>, Ident)> {
    match e {
        Expr::Identifier(i) => Some((None, i.clone())),
        Expr::CompoundIdentifier(parts) => {
            let col = parts.last()?.clone();
            let q = parts
                .len()
                .checked_sub(2)
                .and_then(|i| parts.get(i))
                .cloned();
            Some((q, col))
        }
        _ => None,
    }
}

fn column(q: &Option<Ident>, name: &str) -> Expr {
    match q {
        Some(q) => Expr::CompoundIdentifier(vec![q.clone(), Ident::new(name)]),
        None => Expr::Identifier(Ident::new(name)),
    }
}

fn quoted(i: &Ident) -> String {
    format!("`{}`", i.value.replace('`', "``"))
}

impl Rewriter {
    fn rewrite(&mut self, select: &mut Select) -> Result<(), String> {
        let GroupByExpr::Expressions(keys, _) = &mut select.group_by else {
            return Ok(());
        };
        let Some(pos) = keys.iter().position(|k| legacy_window(k).is_some()) else {
            return Ok(());
        };
        let Some((function, args)) = legacy_window(&keys[pos]) else {
            return Ok(());
        };
        let (qualifier, time_col) = split_column(&args[0]).ok_or_else(|| {
            format!(
                "{function}(...) in GROUP BY needs a time attribute column as its first argument, got {}",
                args[0]
            )
        })?;
        let [from] = select.from.as_mut_slice() else {
            return Err(format!(
                "GROUP BY {function}(...) needs exactly one table in FROM"
            ));
        };
        if !from.joins.is_empty() {
            return Err(format!(
                "GROUP BY {function}(...) over a join is not supported; window a view of the join instead"
            ));
        }
        let other_keys: Vec<Expr> = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != pos)
            .map(|(_, k)| k.clone())
            .collect();
        let (data, alias) = match &from.relation {
            TableFactor::Table { name, alias, .. } => (format!("TABLE {name}"), alias.clone()),
            TableFactor::Derived {
                subquery, alias, ..
            } => (format!("({subquery})"), alias.clone()),
            other => {
                return Err(format!(
                    "GROUP BY {function}(...) needs a table or subquery in FROM, got {other}"
                ));
            }
        };
        let mut data = data;
        if function == "SESSION" && !other_keys.is_empty() {
            let cols = other_keys
                .iter()
                .map(|k| split_column(k).map(|(_, c)| quoted(&c)))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    "GROUP BY SESSION(...) supports only plain columns as the other group keys"
                        .to_string()
                })?;
            data = format!("{data} PARTITION BY ({})", cols.join(", "));
        }
        let rest: Vec<String> = args[1..].iter().map(ToString::to_string).collect();
        let alias_text = alias
            .as_ref()
            .map(|a| format!(" AS {a}"))
            .unwrap_or_default();
        let text = format!(
            "SELECT * FROM TABLE({function}({data}, DESCRIPTOR({}), {})){alias_text}",
            quoted(&time_col),
            rest.join(", ")
        );
        let parsed = Parser::new(&FlinkDialect)
            .try_with_sql(&text)
            .and_then(|mut p| p.parse_query())
            .map_err(|e| format!("rewriting GROUP BY {function}(...): {e}"))?;
        let SetExpr::Select(s) = *parsed.body else {
            return Err("rewriting a legacy window produced no SELECT".into());
        };
        let Some(relation) = s.from.into_iter().next().map(|t| t.relation) else {
            return Err("rewriting a legacy window produced no FROM".into());
        };
        from.relation = relation;
        keys.remove(pos);
        keys.push(column(&qualifier, "window_start"));
        keys.push(column(&qualifier, "window_end"));
        // Auxiliary functions become the window columns.
        let prefix = format!("{function}_");
        let mut replace = |e: &mut Expr| {
            if let Expr::Function(f) = e {
                let name = f.name.to_string().to_ascii_uppercase();
                if let Some(aux) = name.strip_prefix(&prefix) {
                    let col = match aux {
                        "START" => Some("window_start"),
                        "END" => Some("window_end"),
                        "ROWTIME" => Some("window_time"),
                        _ => None,
                    };
                    if let Some(col) = col {
                        *e = column(&qualifier, col);
                    }
                }
            }
            ControlFlow::<()>::Continue(())
        };
        let _ = visit_expressions_mut(&mut select.projection, &mut replace);
        let _ = visit_expressions_mut(&mut select.having, &mut replace);
        Ok(())
    }
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut()
            && let Err(e) = self.rewrite(select)
        {
            self.error.get_or_insert(e);
        }
        ControlFlow::Continue(())
    }
}

/// Rewrites every legacy group window of a statement; an error says why a
/// legacy window could not be rewritten.
pub fn apply(statement: &mut Statement) -> Result<(), String> {
    let mut r = Rewriter { error: None };
    let _ = statement.visit(&mut r);
    match r.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(sql: &str) -> String {
        let mut st = Parser::new(&FlinkDialect)
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_statement())
            .unwrap();
        apply(&mut st).unwrap();
        st.to_string()
    }

    #[test]
    fn session_becomes_a_partitioned_table_function() {
        let out = rewrite(
            "SELECT B.bidder, count(*), SESSION_START(B.ts, INTERVAL '10' SECOND) AS s \
             FROM bid B GROUP BY B.bidder, SESSION(B.ts, INTERVAL '10' SECOND)",
        );
        assert!(out.contains("B.window_start AS s"), "{out}");
        assert!(
            out.contains("GROUP BY B.bidder, B.window_start, B.window_end"),
            "{out}"
        );
        assert!(
            out.contains(
                "SESSION(__riffle_table_arg(bid, `bidder`), DESCRIPTOR(`ts`), INTERVAL '10' SECOND)"
            ),
            "{out}"
        );
    }

    #[test]
    fn tumble_over_a_subquery() {
        let out = rewrite(
            "SELECT TUMBLE_END(ts, INTERVAL '1' MINUTE), count(*) FROM (SELECT * FROM t) \
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE)",
        );
        assert!(out.contains("SELECT window_end, count(*)"), "{out}");
        assert!(
            out.contains("TUMBLE((SELECT * FROM t), DESCRIPTOR(`ts`)"),
            "{out}"
        );
    }

    #[test]
    fn joins_are_refused_with_a_reason() {
        let mut st = Parser::new(&FlinkDialect)
            .try_with_sql(
                "SELECT count(*) FROM a JOIN b ON a.x = b.x GROUP BY TUMBLE(a.ts, INTERVAL '1' SECOND)",
            )
            .and_then(|mut p| p.parse_statement())
            .unwrap();
        assert!(apply(&mut st).unwrap_err().contains("join"));
    }
}
