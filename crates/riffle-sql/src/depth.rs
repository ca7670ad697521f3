//! Nesting limits, checked right after parsing, before anything recurses.
//!
//! sqlparser parses chains of infix operators (`a OR b OR c ...`,
//! `x + y + z ...`) and set operations (`... UNION ALL ...`) in a loop, so
//! their trees can be as deep as the text is long; everything after it
//! (DataFusion's planner, analyzer and optimizer, the physical expressions
//! the task threads evaluate, and dropping the trees) walks them
//! recursively. Other nesting (parentheses, function calls, subqueries)
//! comes from the parser's own recursion, which it caps at
//! [`PARSER_RECURSION_LIMIT`] levels.
//!
//! The rules, in the order they are applied to each statement:
//!
//! 1. The script may hold at most [`MAX_TOKENS`] tokens, which bounds what
//!    the parser can build (and drop, recursively, when it fails) before any
//!    check below runs.
//! 2. A chain of `AND` or of `OR` longer than [`BALANCE_AT`] is rebuilt as a
//!    balanced tree of the same operands in the same order: both operators
//!    are associative in SQL's three-valued logic, so the result is the
//!    same, and a generated list of 100,000 alternatives nests 17 levels
//!    deep instead of 100,000. Long lists of alternatives plan and evaluate.
//! 3. No expression may then nest deeper than [`MAX_EXPRESSION_DEPTH`]
//!    levels, counted through subqueries; no query may chain more set
//!    operations, join more tables in one `FROM`, or declare more common
//!    table expressions than that. The error names the limit and where the
//!    expression starts.
//! 4. After planning, no logical plan may be deeper than [`MAX_PLAN_DEPTH`]
//!    operators (views built on views grow plans statement by statement;
//!    see `check_plan`).
//!
//! All walks here are iterative, or recursive with their depth bounded by
//! these limits (sqlparser's visitor, stopped the moment it passes the
//! limit). A statement refused by rule 3 may be arbitrarily deep, so it is
//! taken apart iteratively (`dismantle_statement`) instead of dropped.
//!
//! (Type nesting, which sqlparser parses recursively without counting, is
//! bounded from the tokens before parsing: see
//! [`crate::statements::MAX_BRACKET_NESTING`].)
//!
//! [`MAX_EXPRESSION_DEPTH`] is chosen so that an expression at the limit
//! also evaluates at run time: the task threads of `riffle-runtime` run on
//! Rust's default 2 MiB thread stack and evaluate DataFusion physical
//! expressions recursively. A debug build (the largest frames) ran out of
//! that stack between 600 and 700 nested `+` levels when measured; type
//! coercion may add a cast per level, so the limit is 250, which leaves
//! twice the limit plus a margin. The planner thread itself has room for
//! far more (a 3,000-level chain planned fine on it). The end-to-end test
//! `crates/riffle-cli/tests/deep_sql.rs` runs a query at the limit. A change
//! to the task threads' stacks or to expression evaluation must keep that
//! test passing.

use std::ops::ControlFlow;

use datafusion_common::tree_node::TreeNodeRecursion;
use datafusion_expr::LogicalPlan;
use datafusion_sql::sqlparser::ast::{
    BinaryOperator, Expr, Query, SetExpr, Value, Values, VisitMut, VisitorMut,
};

use crate::ddl::ColumnDef;
use crate::statements::{Located, Statement};
use crate::{Error, Result};

/// Deepest expression nesting a statement may have (and most set
/// operations in one query, tables in one `FROM`, common table expressions
/// in one `WITH`).
pub const MAX_EXPRESSION_DEPTH: usize = 250;

/// Deepest logical plan (in operators) a statement may plan into.
pub const MAX_PLAN_DEPTH: usize = 1000;

/// Most tokens (not counting whitespace and comments) a script may hold:
/// some megabytes of SQL text.
pub const MAX_TOKENS: usize = 1_000_000;

/// How deep sqlparser may recurse (parentheses, function calls, subqueries);
/// sqlparser's own default, stated here so error messages can name it.
pub const PARSER_RECURSION_LIMIT: usize = 50;

/// `AND`/`OR` chains longer than this are rebalanced.
pub const BALANCE_AT: usize = 16;

/// Checks one parsed statement against the nesting limits, rebalancing long
/// `AND`/`OR` chains on the way. A refused statement is taken apart without
/// recursion before the error is returned.
pub(crate) fn check(mut located: Located) -> Result<Located> {
    match check_in_place(&mut located.statement, located.location) {
        Ok(()) => Ok(located),
        Err(e) => {
            dismantle_statement(located.statement);
            Err(e)
        }
    }
}

fn check_in_place(statement: &mut Statement, location: (u64, u64)) -> Result<()> {
    let mut limiter = Limiter::new(location);
    let flow = match statement {
        Statement::CreateTable(ddl) => {
            let mut flow = ControlFlow::Continue(());
            for c in &mut ddl.columns {
                if let ColumnDef::Computed { expr, .. } = c {
                    flow = expr.visit(&mut limiter);
                    if flow.is_break() {
                        break;
                    }
                }
            }
            if flow.is_continue()
                && let Some((_, expr)) = &mut ddl.watermark
            {
                flow = expr.visit(&mut limiter);
            }
            flow
        }
        Statement::CreateView { query, .. } | Statement::Query(query) => query.visit(&mut limiter),
        Statement::Insert(stmt) => stmt.visit(&mut limiter),
        Statement::StatementSet(inserts) => {
            for i in inserts {
                check_in_place(&mut i.statement, i.location)?;
            }
            ControlFlow::Continue(())
        }
        Statement::Explain(inner) => return check_in_place(&mut inner.statement, inner.location),
        Statement::CreateFunction { .. }
        | Statement::Set(_)
        | Statement::Reset(_)
        | Statement::ShowTables
        | Statement::Describe(_)
        | Statement::Drop { .. } => ControlFlow::Continue(()),
    };
    match (flow, limiter.error) {
        (ControlFlow::Break(()), Some(e)) => Err(e),
        _ => Ok(()),
    }
}

/// Walks a statement, stops at the first nesting beyond the limits.
struct Limiter {
    /// Expression nesting at the current node.
    depth: usize,
    /// Where the outermost expression being walked starts.
    root: Option<(u64, u64)>,
    /// Where the statement starts (when an expression has no position).
    statement: (u64, u64),
    /// The refusal, once the walk broke off.
    error: Option<Error>,
}

impl Limiter {
    fn new(statement: (u64, u64)) -> Self {
        Limiter {
            depth: 0,
            root: None,
            statement,
            error: None,
        }
    }

    fn refuse(&mut self, location: Option<(u64, u64)>, message: String) -> ControlFlow<()> {
        self.error = Some(Error::Plan {
            location: location.or(Some(self.statement)),
            message,
        });
        ControlFlow::Break(())
    }
}

impl VisitorMut for Limiter {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        balance(expr);
        if self.depth == 0 {
            self.root = start_of(expr);
        }
        self.depth += 1;
        if self.depth > MAX_EXPRESSION_DEPTH {
            return self.refuse(
                self.root,
                format!(
                    "expression nests deeper than {MAX_EXPRESSION_DEPTH} levels (the planner's \
                     limit); split it into smaller expressions, or write a long list of \
                     alternatives as IN (...)"
                ),
            );
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &mut Expr) -> ControlFlow<()> {
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Some(with) = &query.with
            && with.cte_tables.len() > MAX_EXPRESSION_DEPTH
        {
            let at = span_start(with.with_token.0.span);
            return self.refuse(
                at,
                format!(
                    "WITH declares {} common table expressions; the planner's limit is \
                     {MAX_EXPRESSION_DEPTH}",
                    with.cte_tables.len()
                ),
            );
        }
        // The set operations of this query (not of its subqueries, which
        // get their own visit) and the FROM clause of each SELECT in it.
        let mut stack: Vec<(&SetExpr, usize)> = vec![(&query.body, 0)];
        while let Some((set, depth)) = stack.pop() {
            match set {
                SetExpr::SetOperation { left, right, .. } => {
                    if depth + 1 > MAX_EXPRESSION_DEPTH {
                        let at = first_select(left);
                        return self.refuse(
                            at,
                            format!(
                                "query chains more than {MAX_EXPRESSION_DEPTH} set operations \
                                 (UNION, EXCEPT, INTERSECT; the planner's limit)"
                            ),
                        );
                    }
                    stack.push((right, depth + 1));
                    stack.push((left, depth + 1));
                }
                SetExpr::Select(select) => {
                    let tables: usize = select.from.iter().map(|t| 1 + t.joins.len()).sum();
                    if tables > MAX_EXPRESSION_DEPTH {
                        let at = span_start(select.select_token.0.span);
                        return self.refuse(
                            at,
                            format!(
                                "SELECT reads {tables} tables in its FROM clause; the planner's \
                                 limit is {MAX_EXPRESSION_DEPTH}"
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        ControlFlow::Continue(())
    }
}

/// Rebuilds a long chain of one associative operator (`AND` or `OR`) as a
/// balanced tree of the same operands, left to right.
fn balance(expr: &mut Expr) {
    let op = match expr {
        Expr::BinaryOp {
            op: op @ (BinaryOperator::And | BinaryOperator::Or),
            ..
        } => op.clone(),
        _ => return,
    };
    // Only chains longer than BALANCE_AT: the subtrees built here are
    // shorter, so walking into them does not rebuild them again.
    let mut spine = 0;
    let mut node: &Expr = expr;
    while let Expr::BinaryOp { left, op: o, .. } = node
        && *o == op
    {
        spine += 1;
        if spine > BALANCE_AT {
            break;
        }
        node = left;
    }
    if spine <= BALANCE_AT {
        return;
    }
    let mut operands = Vec::new();
    let mut stack = vec![std::mem::replace(expr, placeholder())];
    while let Some(e) = stack.pop() {
        match e {
            Expr::BinaryOp { left, op: o, right } if o == op => {
                stack.push(*right);
                stack.push(*left);
            }
            other => operands.push(other),
        }
    }
    // Pair neighbours level by level: depth ⌈log2 n⌉, order kept.
    while operands.len() > 1 {
        let mut next = Vec::with_capacity(operands.len().div_ceil(2));
        let mut it = operands.into_iter();
        while let Some(left) = it.next() {
            match it.next() {
                Some(right) => next.push(Expr::BinaryOp {
                    left: Box::new(left),
                    op: op.clone(),
                    right: Box::new(right),
                }),
                None => next.push(left),
            }
        }
        operands = next;
    }
    if let Some(balanced) = operands.pop() {
        *expr = balanced;
    }
}

/// A leaf that costs nothing to drop.
fn placeholder() -> Expr {
    Expr::Value(Value::Null.with_empty_span())
}

fn span_start(span: datafusion_sql::sqlparser::tokenizer::Span) -> Option<(u64, u64)> {
    (span.start.line > 0).then_some((span.start.line, span.start.column))
}

/// Where an expression starts: the position of its leftmost token with one,
/// found by following first operands (no recursion).
fn start_of(mut expr: &Expr) -> Option<(u64, u64)> {
    loop {
        expr = match expr {
            Expr::Identifier(i) => return span_start(i.span),
            Expr::CompoundIdentifier(parts) => {
                return parts.first().and_then(|i| span_start(i.span));
            }
            Expr::Value(v) => return span_start(v.span),
            Expr::Function(f) => {
                return f
                    .name
                    .0
                    .first()
                    .and_then(|p| p.as_ident())
                    .and_then(|i| span_start(i.span));
            }
            Expr::BinaryOp { left, .. } => left,
            Expr::UnaryOp { expr, .. }
            | Expr::Nested(expr)
            | Expr::Cast { expr, .. }
            | Expr::IsNull(expr)
            | Expr::IsNotNull(expr)
            | Expr::IsTrue(expr)
            | Expr::IsNotTrue(expr)
            | Expr::IsFalse(expr)
            | Expr::IsNotFalse(expr)
            | Expr::IsUnknown(expr)
            | Expr::IsNotUnknown(expr)
            | Expr::InList { expr, .. }
            | Expr::InSubquery { expr, .. }
            | Expr::Between { expr, .. }
            | Expr::Like { expr, .. }
            | Expr::ILike { expr, .. }
            | Expr::SimilarTo { expr, .. }
            | Expr::Collate { expr, .. } => expr,
            Expr::IsDistinctFrom(left, _) | Expr::IsNotDistinctFrom(left, _) => left,
            Expr::AtTimeZone { timestamp, .. } => timestamp,
            _ => return None,
        };
    }
}

/// Where the leftmost SELECT of a set-operation chain starts.
fn first_select(mut set: &SetExpr) -> Option<(u64, u64)> {
    loop {
        set = match set {
            SetExpr::SetOperation { left, .. } => left,
            SetExpr::Query(q) => &q.body,
            SetExpr::Select(s) => return span_start(s.select_token.0.span),
            _ => return None,
        };
    }
}

/// Takes trees apart without recursion: every expression and set operation
/// is moved out of its parent into a work list before the parent is
/// dropped, so each drop is shallow however deep the tree was.
#[derive(Default)]
struct Dismantler {
    exprs: Vec<Expr>,
    sets: Vec<SetExpr>,
    /// Set while visiting a detached expression: its own node is kept (its
    /// children are detached), every other expression met is detached.
    keep_next: bool,
}

impl VisitorMut for Dismantler {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if std::mem::take(&mut self.keep_next) {
            return ControlFlow::Continue(());
        }
        self.exprs.push(std::mem::replace(expr, placeholder()));
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        detach_set_operands(&mut query.body, &mut self.sets);
        ControlFlow::Continue(())
    }
}

fn empty_set() -> SetExpr {
    SetExpr::Values(Values {
        explicit_row: false,
        value_keyword: false,
        rows: Vec::new(),
    })
}

fn detach_set_operands(set: &mut SetExpr, out: &mut Vec<SetExpr>) {
    if let SetExpr::SetOperation { left, right, .. } = set {
        out.push(std::mem::replace(left.as_mut(), empty_set()));
        out.push(std::mem::replace(right.as_mut(), empty_set()));
    }
}

impl Dismantler {
    /// Drops everything detached so far, detaching their children first.
    fn drain(&mut self) {
        loop {
            if let Some(mut e) = self.exprs.pop() {
                self.keep_next = true;
                let _ = e.visit(self);
                self.keep_next = false;
                drop(e);
            } else if let Some(mut s) = self.sets.pop() {
                detach_set_operands(&mut s, &mut self.sets);
                let _ = s.visit(self);
                drop(s);
            } else {
                return;
            }
        }
    }
}

/// Drops a statement of any depth without deep recursion.
fn dismantle_statement(statement: Statement) {
    let mut d = Dismantler::default();
    let mut statements = vec![statement];
    while let Some(statement) = statements.pop() {
        match statement {
            Statement::CreateTable(mut ddl) => {
                for c in &mut ddl.columns {
                    if let ColumnDef::Computed { expr, .. } = c {
                        d.exprs
                            .push(std::mem::replace(expr.as_mut(), placeholder()));
                    }
                }
                if let Some((_, expr)) = &mut ddl.watermark {
                    d.exprs.push(std::mem::replace(expr, placeholder()));
                }
            }
            Statement::CreateView { mut query, .. } | Statement::Query(mut query) => {
                let _ = query.visit(&mut d);
            }
            Statement::Insert(mut stmt) => {
                let _ = stmt.visit(&mut d);
            }
            Statement::StatementSet(inserts) => {
                statements.extend(inserts.into_iter().map(|i| i.statement));
            }
            Statement::Explain(inner) => statements.push(inner.statement),
            Statement::CreateFunction { .. }
            | Statement::Set(_)
            | Statement::Reset(_)
            | Statement::ShowTables
            | Statement::Describe(_)
            | Statement::Drop { .. } => {}
        }
        d.drain();
    }
}

/// Checks that a logical plan is at most [`MAX_PLAN_DEPTH`] operators deep,
/// counting subqueries, without recursing over the plan. (Views inline
/// their plans, so a chain of views deepens every plan built on it; each
/// statement is checked, so the plans in the catalog stay within the limit
/// too.)
pub(crate) fn check_plan(plan: &LogicalPlan, location: Option<(u64, u64)>) -> Result<()> {
    if plan_depth(plan, 0) > MAX_PLAN_DEPTH {
        return Err(Error::Plan {
            location,
            message: format!(
                "the statement plans into more than {MAX_PLAN_DEPTH} nested operators (the \
                 planner's limit); views defined on views add up"
            ),
        });
    }
    Ok(())
}

/// Depth of `plan` plus `base`, or a value past the limit as soon as the
/// walk gets there. Subqueries recurse once per level of subquery nesting,
/// which the limit bounds as well.
fn plan_depth(plan: &LogicalPlan, base: usize) -> usize {
    let mut deepest = base;
    let mut stack = vec![(plan, base + 1)];
    while let Some((node, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        if deepest > MAX_PLAN_DEPTH {
            return deepest;
        }
        let _ = node.apply_subqueries(|sub| {
            deepest = deepest.max(plan_depth(sub, depth));
            Ok(if deepest > MAX_PLAN_DEPTH {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        });
        stack.extend(node.inputs().into_iter().map(|i| (i, depth + 1)));
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statements::parse_statements;

    fn chain(op: &str, n: usize) -> String {
        (1..=n)
            .map(|i| format!("id = {i}"))
            .collect::<Vec<_>>()
            .join(&format!(" {op} "))
    }

    fn expr_depth(e: &Expr) -> usize {
        struct D(usize, usize);
        impl datafusion_sql::sqlparser::ast::Visitor for D {
            type Break = ();
            fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
                self.0 += 1;
                self.1 = self.1.max(self.0);
                ControlFlow::Continue(())
            }
            fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
                self.0 -= 1;
                ControlFlow::Continue(())
            }
        }
        let mut d = D(0, 0);
        let _ = datafusion_sql::sqlparser::ast::Visit::visit(e, &mut d);
        d.1
    }

    fn where_clause(sql: &str) -> Result<Expr> {
        let mut statements = parse_statements(sql)?;
        let Some(Located {
            statement: Statement::Query(q),
            ..
        }) = statements.pop()
        else {
            panic!("not a query: {sql}")
        };
        let SetExpr::Select(select) = *q.body else {
            panic!("not a select: {sql}")
        };
        Ok(select.selection.unwrap_or_else(placeholder))
    }

    #[test]
    fn long_or_chains_become_balanced_trees_of_the_same_operands() -> Result<()> {
        let e = where_clause(&format!("SELECT id FROM t WHERE {}", chain("OR", 100)))?;
        // ⌈log2 100⌉ = 7 OR levels, then `=` and its operands.
        assert_eq!(expr_depth(&e), 7 + 2);
        // Same operands, same order.
        let text = e.to_string().replace(['(', ')'], "");
        assert_eq!(text, chain("OR", 100));
        // Short chains stay as written.
        let e = where_clause(&format!("SELECT id FROM t WHERE {}", chain("AND", 5)))?;
        assert_eq!(e.to_string(), chain("AND", 5));
        Ok(())
    }

    #[test]
    fn a_100k_term_or_chain_is_accepted_and_balanced() -> Result<()> {
        let e = where_clause(&format!("SELECT id FROM t WHERE {}", chain("OR", 100_000)))?;
        assert_eq!(expr_depth(&e), 17 + 2);
        Ok(())
    }

    #[test]
    fn deep_expressions_are_refused_with_the_limit_and_the_place() {
        let plus = vec!["id"; 100_000].join(" + ");
        let sql = format!("SELECT 1;\n\nSELECT id,\n      {plus} FROM t");
        let e = parse_statements(&sql).unwrap_err().to_string();
        assert!(
            e.contains(&format!("nests deeper than {MAX_EXPRESSION_DEPTH} levels")),
            "{e}"
        );
        assert!(e.contains("at 4:7"), "{e}");
        // Just below the limit is fine (the leaf is one level too).
        let plus = vec!["id"; MAX_EXPRESSION_DEPTH / 2].join(" + ");
        assert!(parse_statements(&format!("SELECT {plus} FROM t")).is_ok());
    }

    #[test]
    fn long_set_operation_chains_and_joins_are_refused() {
        let union = vec!["SELECT 1"; MAX_EXPRESSION_DEPTH + 2].join(" UNION ALL ");
        let e = parse_statements(&union).unwrap_err().to_string();
        assert!(e.contains("set operations"), "{e}");
        assert!(e.contains("at 1:1"), "{e}");
        let joins = vec!["t"; MAX_EXPRESSION_DEPTH + 1].join(", ");
        let e = parse_statements(&format!("SELECT 1 FROM {joins}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tables in its FROM clause"), "{e}");
    }

    /// A refused tree is taken apart, not dropped recursively: on a thread
    /// with a 16 MiB stack (no planner thread), a 400,000-level chain, whose
    /// recursive drop needs several times that, is refused and freed.
    #[test]
    fn a_refused_tree_is_freed_without_recursion() {
        let deep = vec!["x"; 400_000].join(" - ");
        let sql = format!("SELECT {deep} FROM t");
        let e = std::thread::Builder::new()
            .stack_size(16 << 20)
            .spawn(move || crate::statements::parse_here(&sql).map(|_| ()))
            .unwrap()
            .join()
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(e.contains("nests deeper than"), "{e}");
    }

    #[test]
    fn deep_trees_in_every_statement_kind_are_dismantled() {
        let deep = vec!["x"; 200_000].join(" - ");
        for sql in [
            format!("CREATE TABLE t (x INT, y AS {deep}) WITH ('connector' = 'datagen')"),
            format!("CREATE VIEW v AS SELECT {deep} FROM t"),
            format!("INSERT INTO k SELECT {deep} FROM t"),
            format!("EXPLAIN SELECT f({deep}) FROM t"),
            format!("SELECT x FROM t WHERE x IN (SELECT {deep} FROM t)"),
            format!(
                "EXECUTE STATEMENT SET BEGIN INSERT INTO k SELECT 1; INSERT INTO k SELECT {deep}; END"
            ),
        ] {
            let e = parse_statements(&sql).unwrap_err().to_string();
            assert!(e.contains("nests deeper than"), "{e}");
        }
    }
}
