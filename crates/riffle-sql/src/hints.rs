//! Query hints: `SELECT /*+ STATE_TTL('orders' = '1d', 'c' = '12 h') */ ...`.
//!
//! `STATE_TTL` sets the state time-to-live of a regular join's inputs or of
//! a group aggregate's input, by the input's name (its alias, or the table
//! or view name), over `table.exec.state.ttl`. The hints of one statement
//! are collected from every query block of its text and apply to the joins
//! and aggregates whose inputs carry those names; a name that no join or
//! aggregate input has is an error, as in Flink. Other hints Flink knows
//! (`LOOKUP`, `BROADCAST`, `SHUFFLE_HASH`, `SHUFFLE_MERGE`, `NEST_LOOP`)
//! choose batch join strategies or lookup retries and are ignored with a
//! warning; an unknown hint is an error.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use datafusion_expr::LogicalPlan;
use datafusion_sql::sqlparser::ast::{Query, SetExpr, Statement, Visit, Visitor};
use datafusion_sql::sqlparser::parser::{Parser, ParserError};
use datafusion_sql::sqlparser::tokenizer::Token;

use crate::dialect::FlinkDialect;
use crate::{Error, Result};

/// Hints Flink accepts that Riffle has nothing to do with in streaming.
const IGNORED: &[&str] = &[
    "LOOKUP",
    "BROADCAST",
    "SHUFFLE_HASH",
    "SHUFFLE_MERGE",
    "NEST_LOOP",
];

/// The `STATE_TTL` hints of one statement: TTL in ms by input name, and the
/// names a join or aggregate has used.
#[derive(Debug, Clone, Default)]
pub(crate) struct StateTtlHints {
    by_name: BTreeMap<String, i64>,
    used: RefCell<BTreeSet<String>>,
}

impl StateTtlHints {
    /// Collects the hints of every query block of `stmt`.
    pub(crate) fn collect(stmt: &Statement) -> Result<StateTtlHints> {
        struct Blocks(Vec<String>);
        impl Visitor for Blocks {
            type Break = ();
            fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
                hint_texts(&q.body, &mut self.0);
                ControlFlow::Continue(())
            }
        }
        let mut blocks = Blocks(Vec::new());
        let _ = stmt.visit(&mut blocks);
        let mut hints = StateTtlHints::default();
        for text in blocks.0 {
            for (name, options) in parse_hints(&text)? {
                let upper = name.to_ascii_uppercase();
                if upper == "STATE_TTL" {
                    hints.add_state_ttl(&options)?;
                } else if IGNORED.contains(&upper.as_str()) {
                    tracing::warn!("the {upper} hint has no effect on a streaming job; ignored");
                } else {
                    return Err(Error::plan(format!(
                        "Hint [{name}] is unknown; the hints are STATE_TTL, {}",
                        IGNORED.join(", ")
                    )));
                }
            }
        }
        Ok(hints)
    }

    fn add_state_ttl(&mut self, options: &[(String, Option<String>)]) -> Result<()> {
        if options.is_empty() {
            return Err(Error::plan(
                "STATE_TTL needs at least one 'input' = 'duration' option, such as STATE_TTL('o' = '1d')",
            ));
        }
        for (name, value) in options {
            let Some(value) = value else {
                return Err(Error::plan(format!(
                    "STATE_TTL('{name}') has no duration; write STATE_TTL('{name}' = '1d')"
                )));
            };
            let ttl = riffle_common::config::parse::duration(value).map_err(|e| {
                Error::plan(format!(
                    "STATE_TTL('{name}' = '{value}'): {}; write a duration such as '1d', '12 h' or '500 ms'",
                    e.0
                ))
            })?;
            let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            self.by_name.insert(name.clone(), ms);
        }
        Ok(())
    }

    /// Whether the statement has no `STATE_TTL` hint.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The hinted TTL in ms of an input planned as `input`, if its name has one.
    pub(crate) fn ttl_of(&self, input: &LogicalPlan) -> Option<i64> {
        if self.is_empty() {
            return None;
        }
        let names = input_names(input);
        let name = names.iter().find(|n| self.by_name.contains_key(*n))?;
        self.used.borrow_mut().insert(name.clone());
        self.by_name.get(name).copied()
    }

    /// Fails on a hinted name no join or aggregate input had.
    pub(crate) fn check_all_used(&self) -> Result<()> {
        let used = self.used.borrow();
        let unused: Vec<&String> = self.by_name.keys().filter(|n| !used.contains(*n)).collect();
        if unused.is_empty() {
            return Ok(());
        }
        Err(Error::plan(format!(
            "The options of following hints cannot match the name of input tables or views: {} in STATE_TTL; \
             name the inputs of a join or a group aggregate (their aliases, or table or view names)",
            unused
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// The hint texts of the SELECTs at the top of a query body (nested queries
/// are visited on their own).
fn hint_texts(body: &SetExpr, out: &mut Vec<String>) {
    match body {
        SetExpr::Select(s) => out.extend(
            s.optimizer_hints
                .iter()
                .filter(|h| h.prefix.is_empty())
                .map(|h| h.text.clone()),
        ),
        SetExpr::SetOperation { left, right, .. } => {
            hint_texts(left, out);
            hint_texts(right, out);
        }
        _ => {}
    }
}

/// A hint's options: keys with their values (`None` for list items).
type HintOptions = Vec<(String, Option<String>)>;

/// Parses `NAME('k' = 'v', ...), NAME2(...)` into names and options.
fn parse_hints(text: &str) -> Result<Vec<(String, HintOptions)>> {
    let bad = |e: ParserError| {
        Error::plan(format!(
            "cannot read the hint /*+{text}*/: {e}; write it as STATE_TTL('input' = 'duration', ...)"
        ))
    };
    let mut p = Parser::new(&FlinkDialect).try_with_sql(text).map_err(bad)?;
    let hints = p
        .parse_comma_separated(|p| {
            let name = p.parse_identifier()?.value;
            p.expect_token(&Token::LParen)?;
            let mut options = Vec::new();
            if !p.consume_token(&Token::RParen) {
                options = p.parse_comma_separated(|p| {
                    // `'k' = 'v'`, or a bare item of a list hint (`BROADCAST(t)`).
                    let key = option_text(p)?;
                    let value = if p.consume_token(&Token::Eq) {
                        Some(option_text(p)?)
                    } else {
                        None
                    };
                    Ok((key, value))
                })?;
                p.expect_token(&Token::RParen)?;
            }
            Ok((name, options))
        })
        .map_err(bad)?;
    p.expect_token(&Token::EOF).map_err(bad)?;
    Ok(hints)
}

/// An option key or value: a string literal or a plain name.
fn option_text(p: &mut Parser) -> std::result::Result<String, ParserError> {
    let t = p.next_token();
    match t.token {
        Token::SingleQuotedString(s) => Ok(s),
        Token::Word(w) => Ok(w.value),
        other => Err(ParserError::ParserError(format!(
            "expected a quoted string, found {other}"
        ))),
    }
}

/// The names an input goes by: its aliases and its table or view name,
/// looking through projections and filters.
fn input_names(plan: &LogicalPlan) -> Vec<String> {
    let mut names = Vec::new();
    let mut p = plan;
    loop {
        match p {
            LogicalPlan::Projection(x) => p = &x.input,
            LogicalPlan::Filter(x) => p = &x.input,
            LogicalPlan::SubqueryAlias(a) => {
                names.push(a.alias.table().to_string());
                p = &a.input;
            }
            LogicalPlan::TableScan(s) => {
                names.push(s.table_name.table().to_string());
                return names;
            }
            _ => return names,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_read_names_and_options() {
        let h = parse_hints(" STATE_TTL('o' = '1d', c = '12 h'), LOOKUP('table' = 'x') ").unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].0, "STATE_TTL");
        assert_eq!(
            h[0].1,
            vec![
                ("o".into(), Some("1d".into())),
                ("c".into(), Some("12 h".into()))
            ]
        );
        let e = parse_hints("STATE_TTL('o' 1d)").unwrap_err().to_string();
        assert!(e.contains("cannot read the hint"), "{e}");
    }

    #[test]
    fn a_bad_duration_names_the_option() {
        let mut hints = StateTtlHints::default();
        let e = hints
            .add_state_ttl(&[("o".into(), Some("soon".into()))])
            .unwrap_err()
            .to_string();
        assert!(e.contains("STATE_TTL('o' = 'soon')"), "{e}");
    }

    fn explain(sql: &str) -> crate::Result<String> {
        crate::session::Session::new(riffle_common::config::Configuration::new()).explain_script(
            &format!(
                "CREATE TABLE a (k BIGINT, v BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1');
                 CREATE TABLE b (k BIGINT, v BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1');
                 CREATE TABLE o (k BIGINT, n BIGINT) WITH ('connector' = 'blackhole');
                 {sql}"
            ),
            &std::sync::Arc::new(riffle_runtime::metrics::JobMetrics::default()),
        )
    }

    #[test]
    fn state_ttl_comes_from_the_hint_then_the_configuration() {
        let text = explain(
            "SET 'table.exec.state.ttl' = '1 h';
             INSERT INTO o SELECT /*+ STATE_TTL('x' = '1d') */ x.k, y.v
             FROM a AS x JOIN b AS y ON x.k = y.k;",
        )
        .unwrap();
        assert!(
            text.contains("stateTtl=[left=86400000 ms, right=3600000 ms]"),
            "{text}"
        );
        let text = explain(
            "INSERT INTO o SELECT /*+ STATE_TTL('a' = '10 s') */ k, COUNT(*) FROM a GROUP BY k;",
        )
        .unwrap();
        assert!(text.contains("stateTtl=[10000 ms]"), "{text}");
        let text = explain("INSERT INTO o SELECT k, COUNT(*) FROM a GROUP BY k;").unwrap();
        assert!(!text.contains("stateTtl"), "{text}");
    }

    #[test]
    fn a_hint_must_name_an_input_and_be_known() {
        let e = explain(
            "INSERT INTO o SELECT /*+ STATE_TTL('nope' = '1d') */ k, COUNT(*) FROM a GROUP BY k;",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("cannot match the name of input tables or views: `nope`"),
            "{e}"
        );
        let e = explain("INSERT INTO o SELECT /*+ FAST() */ k, v FROM a;")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Hint [FAST] is unknown"), "{e}");
        explain("INSERT INTO o SELECT /*+ BROADCAST(a) */ k, v FROM a;").unwrap();
    }
}
