//! The Flink SQL dialect for sqlparser.
//!
//! Flink quotes identifiers with backquotes, and window table functions take a
//! table argument: `TUMBLE(TABLE bid, DESCRIPTOR(ts), INTERVAL '10' SECOND)`,
//! `SESSION(TABLE bid PARTITION BY bidder, ...)`. sqlparser cannot parse the
//! `TABLE name` argument, so the prefix hook turns it into a call of the
//! reserved function [`TABLE_ARG`]`(name, partition keys...)`, which only the
//! window planner ([`crate::window_tvf`]) reads. Everything else behaves like
//! sqlparser's generic dialect (the type id masquerades as it so that generic
//! parsing branches stay enabled).

use std::any::TypeId;

use datafusion_sql::sqlparser::ast::Expr;
use datafusion_sql::sqlparser::dialect::{Dialect, GenericDialect};
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::parser::{Parser, ParserError};
use datafusion_sql::sqlparser::tokenizer::Token;

/// Name of the marker function standing for a `TABLE name` argument.
pub const TABLE_ARG: &str = "__riffle_table_arg";

/// Flink's SQL dialect.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlinkDialect;

impl Dialect for FlinkDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<GenericDialect>()
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`'
    }

    fn identifier_quote_style(&self, _identifier: &str) -> Option<char> {
        Some('`')
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_' || ch == '$'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '$'
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }

    fn supports_group_by_expr(&self) -> bool {
        true
    }

    fn supports_nested_comments(&self) -> bool {
        true
    }

    /// `FOR SYSTEM_TIME AS OF` (temporal joins).
    /// `SELECT /*+ STATE_TTL(...) */`: Flink's query hints.
    fn supports_comment_optimizer_hint(&self) -> bool {
        true
    }

    fn supports_table_versioning(&self) -> bool {
        true
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        let tok = parser.peek_token();
        let Token::Word(w) = &tok.token else {
            return None;
        };
        if w.keyword != Keyword::TABLE {
            return None;
        }
        if !matches!(parser.peek_nth_token(1).token, Token::Word(_)) {
            return None;
        }
        Some(parse_table_arg(parser))
    }
}

/// Parses `TABLE name [PARTITION BY a | (a, b)]` into `__riffle_table_arg(name, a, b)`.
fn parse_table_arg(parser: &mut Parser) -> Result<Expr, ParserError> {
    parser.next_token(); // TABLE
    let name = parser.parse_object_name(false)?;
    let mut args = vec![name.to_string()];
    // Flink's grammar: `PARTITION BY col` or `PARTITION BY (a, b)`; a bare
    // comma ends the table argument.
    if parser.parse_keywords(&[Keyword::PARTITION, Keyword::BY]) {
        let keys = if parser.consume_token(&Token::LParen) {
            let keys = parser.parse_comma_separated(Parser::parse_expr)?;
            parser.expect_token(&Token::RParen)?;
            keys
        } else {
            vec![parser.parse_expr()?]
        };
        args.extend(keys.iter().map(ToString::to_string));
    }
    let text = format!("{TABLE_ARG}({})", args.join(", "));
    Parser::new(&FlinkDialect).try_with_sql(&text)?.parse_expr()
}
