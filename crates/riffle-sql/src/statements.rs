//! Splitting a SQL file into Flink statements.
//!
//! One parser runs over the whole file, so every error carries its line and
//! column in the file. Statements sqlparser understands (INSERT, queries) go to
//! sqlparser; Flink's own forms are parsed here: `CREATE TABLE` (see
//! [`crate::ddl`]), `CREATE [TEMPORARY] VIEW`, `CREATE [TEMPORARY [SYSTEM]]
//! FUNCTION name AS 'identifier' [LANGUAGE ...]`, `SET`, `RESET`,
//! `EXECUTE STATEMENT SET BEGIN ... END`, `BEGIN STATEMENT SET; ... END`,
//! `EXPLAIN [PLAN FOR]`, `DROP TABLE|VIEW|FUNCTION`.

use datafusion_sql::sqlparser::ast::{Ident, ObjectName, Query, Statement as SqlStatement};
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::parser::{Parser, ParserError};
use datafusion_sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::ddl::{CreateTable, parse_create_table};
use crate::depth::{MAX_TOKENS, PARSER_RECURSION_LIMIT};
use crate::dialect::FlinkDialect;
use crate::error::parser_error;
use crate::{Error, Result};

/// A parsed statement with its position in the file.
#[derive(Debug, Clone)]
pub struct Located {
    /// The statement.
    pub statement: Statement,
    /// 1-based `(line, column)` where it starts.
    pub location: (u64, u64),
}

/// A Flink SQL statement.
#[derive(Debug, Clone)]
pub enum Statement {
    /// `CREATE TABLE`.
    CreateTable(Box<CreateTable>),
    /// `CREATE VIEW name [(cols)] AS query`.
    CreateView {
        /// View name.
        name: ObjectName,
        /// Optional column names.
        columns: Vec<Ident>,
        /// The query.
        query: Box<Query>,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `CREATE FUNCTION name AS 'identifier'`.
    CreateFunction {
        /// SQL name.
        name: String,
        /// The class name or function identifier.
        identifier: String,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `SET 'key' = 'value'` (or `SET` alone, which lists the configuration).
    Set(Option<(String, String)>),
    /// `RESET ['key']`.
    Reset(Option<String>),
    /// `INSERT INTO ...`.
    Insert(Box<SqlStatement>),
    /// A statement set: several INSERTs forming one job.
    StatementSet(Vec<Located>),
    /// `EXPLAIN [PLAN FOR] statement`.
    Explain(Box<Located>),
    /// A bare query (results go to the terminal).
    Query(Box<Query>),
    /// `SHOW TABLES`.
    ShowTables,
    /// `DESCRIBE name` / `DESC name`.
    Describe(ObjectName),
    /// `DROP TABLE|VIEW|FUNCTION [IF EXISTS] name`.
    Drop {
        /// What kind of object.
        kind: &'static str,
        /// Its name.
        name: ObjectName,
        /// `IF EXISTS`.
        if_exists: bool,
    },
}

fn word_is(tok: &Token, s: &str) -> bool {
    matches!(tok, Token::Word(w) if w.value.eq_ignore_ascii_case(s) && w.quote_style.is_none())
}

/// Parses a whole file, on the planner's thread (see [`crate::stack`]).
///
/// Every statement is checked against the nesting limits of
/// [`crate::depth`] as soon as it is parsed, and long `AND`/`OR` chains come
/// back balanced. An error carries the line and column where parsing
/// stopped (the end of the text when it ran out).
pub fn parse_statements(sql: &str) -> Result<Vec<Located>> {
    crate::stack::on_planner_stack(|| parse_here(sql))
}

/// Brackets (parentheses, `[`, `{`, and `<` after a type constructor) may
/// nest this deep. sqlparser counts its recursion for expressions and
/// queries but not for data types (`ARRAY<ARRAY<...>>`, `ROW(a ROW(...))`),
/// so their nesting is bounded here, from the tokens, before parsing. A
/// statement within the parser's own limit never comes close.
pub const MAX_BRACKET_NESTING: usize = 2 * PARSER_RECURSION_LIMIT;

pub(crate) fn parse_here(sql: &str) -> Result<Vec<Located>> {
    let dialect = FlinkDialect;
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(ParserError::from)?;
    let end = check_tokens(&tokens)?;
    let mut p = Parser::new(&dialect)
        .with_recursion_limit(PARSER_RECURSION_LIMIT)
        .with_tokens_with_locations(tokens);
    let mut out = Vec::new();
    loop {
        while p.consume_token(&Token::SemiColon) {}
        if p.peek_token().token == Token::EOF {
            break;
        }
        let located = parse_one(&mut p).map_err(|e| e.at(Some(stopped_at(&p, end))))?;
        out.push(crate::depth::check(located)?);
        let tok = p.peek_token();
        match tok.token {
            Token::SemiColon | Token::EOF => {}
            other => {
                return Err(parser_error(
                    format_args!("expected ';' or end of input after the statement, found {other}"),
                    tok.span.start,
                )
                .into());
            }
        }
    }
    Ok(out)
}

/// The error for running a script without statements (nothing but
/// comments and semicolons): the same wherever the script is run.
pub const EMPTY_SCRIPT: &str = "the script holds no statement to run";

/// Where the parser stopped: the next token, or the end of the text.
fn stopped_at(p: &Parser, end: Location) -> (u64, u64) {
    let next = p.peek_token().span.start;
    let at = if next.line > 0 { next } else { end };
    (at.line, at.column)
}

/// Checks the token count and bracket nesting (see [`MAX_TOKENS`],
/// [`MAX_BRACKET_NESTING`]); returns where the text ends.
fn check_tokens(tokens: &[TokenWithSpan]) -> Result<Location> {
    let mut count = 0usize;
    let mut nesting = 0usize;
    let mut previous: Option<&Token> = None;
    let mut end = Location::new(1, 1);
    for t in tokens {
        if matches!(t.token, Token::Whitespace(_)) {
            continue;
        }
        count += 1;
        end = t.span.end;
        let at = || Some((t.span.start.line, t.span.start.column));
        if count > MAX_TOKENS {
            return Err(Error::Parse {
                location: at(),
                message: format!(
                    "the script holds more than {MAX_TOKENS} tokens (the parser's limit); \
                     split it into several scripts"
                ),
            });
        }
        let type_constructor = matches!(previous, Some(Token::Word(w))
            if w.quote_style.is_none()
                && ["ARRAY", "ROW", "MAP", "MULTISET", "STRUCT"]
                    .iter()
                    .any(|k| w.value.eq_ignore_ascii_case(k)));
        match &t.token {
            Token::LParen | Token::LBracket | Token::LBrace => nesting += 1,
            Token::Lt if type_constructor => nesting += 1,
            Token::RParen | Token::RBracket | Token::RBrace | Token::Gt => {
                nesting = nesting.saturating_sub(1);
            }
            Token::ShiftRight => nesting = nesting.saturating_sub(2),
            Token::SemiColon => nesting = 0,
            _ => {}
        }
        if nesting > MAX_BRACKET_NESTING {
            return Err(Error::Parse {
                location: at(),
                message: format!(
                    "brackets nest deeper than {MAX_BRACKET_NESTING} levels (the parser's limit)"
                ),
            });
        }
        previous = Some(&t.token);
    }
    Ok(end)
}

fn parse_one(p: &mut Parser) -> Result<Located> {
    let start = p.peek_token().span.start;
    let location = (start.line, start.column);
    let statement = parse_statement(p, location)?;
    Ok(Located {
        statement,
        location,
    })
}

fn parse_statement(p: &mut Parser, location: (u64, u64)) -> Result<Statement> {
    let tok = p.peek_token().token;
    if p.parse_keyword(Keyword::CREATE) {
        let temporary = p.parse_keyword(Keyword::TEMPORARY);
        if temporary {
            let _ = p.parse_keyword(Keyword::SYSTEM);
        }
        if p.parse_keyword(Keyword::TABLE) {
            return Ok(Statement::CreateTable(Box::new(parse_create_table(
                p, location,
            )?)));
        }
        if p.parse_keyword(Keyword::VIEW) {
            let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
            let name = p.parse_object_name(false)?;
            let mut columns = Vec::new();
            if p.consume_token(&Token::LParen) {
                columns = p.parse_comma_separated(Parser::parse_identifier)?;
                p.expect_token(&Token::RParen)?;
            }
            p.expect_keyword(Keyword::AS)?;
            let query = p.parse_query()?;
            return Ok(Statement::CreateView {
                name,
                columns,
                query,
                if_not_exists,
            });
        }
        if p.parse_keyword(Keyword::FUNCTION) {
            let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
            let name = p.parse_object_name(false)?;
            p.expect_keyword(Keyword::AS)?;
            let identifier = p.parse_literal_string()?;
            if p.parse_keyword(Keyword::LANGUAGE) {
                p.next_token();
            }
            if p.parse_keyword(Keyword::USING) {
                // USING JAR '...' [, JAR '...']: jars are meaningless here.
                loop {
                    p.next_token();
                    p.parse_literal_string()?;
                    if !p.consume_token(&Token::Comma) {
                        break;
                    }
                }
            }
            return Ok(Statement::CreateFunction {
                name: name.to_string().trim_matches('`').to_string(),
                identifier,
                if_not_exists,
            });
        }
        let next = p.peek_token();
        return Err(parser_error(
            format_args!(
                "expected TABLE, VIEW or FUNCTION after CREATE, found {}",
                next.token
            ),
            next.span.start,
        )
        .into());
    }
    if word_is(&tok, "SET") {
        p.next_token();
        if matches!(p.peek_token().token, Token::SemiColon | Token::EOF) {
            return Ok(Statement::Set(None));
        }
        let key = parse_key(p)?;
        p.expect_token(&Token::Eq)?;
        let value = parse_key(p)?;
        return Ok(Statement::Set(Some((key, value))));
    }
    if word_is(&tok, "RESET") {
        p.next_token();
        if matches!(p.peek_token().token, Token::SemiColon | Token::EOF) {
            return Ok(Statement::Reset(None));
        }
        return Ok(Statement::Reset(Some(parse_key(p)?)));
    }
    if p.parse_keywords(&[Keyword::EXECUTE, Keyword::STATEMENT, Keyword::SET]) {
        p.expect_keyword(Keyword::BEGIN)?;
        return parse_statement_set(p);
    }
    if p.parse_keywords(&[Keyword::BEGIN, Keyword::STATEMENT, Keyword::SET]) {
        p.expect_token(&Token::SemiColon)?;
        return parse_statement_set(p);
    }
    if p.parse_keyword(Keyword::EXPLAIN) {
        let _ = p.parse_keywords(&[Keyword::PLAN, Keyword::FOR]);
        let next = p.peek_token();
        if matches!(&next.token, Token::Word(w) if w.keyword == Keyword::EXPLAIN) {
            // Refused before parsing on, so EXPLAINs cannot nest (and
            // recurse without bound).
            return Err(parser_error("EXPLAIN cannot explain an EXPLAIN", next.span.start).into());
        }
        let inner = parse_one(p)?;
        return Ok(Statement::Explain(Box::new(inner)));
    }
    if word_is(&tok, "SHOW") {
        p.next_token();
        if !p.parse_keyword(Keyword::TABLES) {
            let next = p.peek_token();
            return Err(parser_error(
                format_args!("expected TABLES after SHOW, found {}", next.token),
                next.span.start,
            )
            .into());
        }
        return Ok(Statement::ShowTables);
    }
    if word_is(&tok, "DESCRIBE") || word_is(&tok, "DESC") {
        p.next_token();
        return Ok(Statement::Describe(p.parse_object_name(false)?));
    }
    if p.parse_keyword(Keyword::DROP) {
        let _ = p.parse_keyword(Keyword::TEMPORARY);
        let kind = if p.parse_keyword(Keyword::TABLE) {
            "table"
        } else if p.parse_keyword(Keyword::VIEW) {
            "view"
        } else if p.parse_keyword(Keyword::FUNCTION) {
            "function"
        } else {
            let next = p.peek_token();
            return Err(parser_error(
                format_args!(
                    "expected TABLE, VIEW or FUNCTION after DROP, found {}",
                    next.token
                ),
                next.span.start,
            )
            .into());
        };
        let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        let name = p.parse_object_name(false)?;
        return Ok(Statement::Drop {
            kind,
            name,
            if_exists,
        });
    }
    if matches!(&tok, Token::Word(w) if w.keyword == Keyword::INSERT) {
        let stmt = p.parse_statement()?;
        return Ok(Statement::Insert(Box::new(stmt)));
    }
    if matches!(&tok, Token::Word(w) if matches!(w.keyword, Keyword::SELECT | Keyword::WITH | Keyword::VALUES))
        || tok == Token::LParen
    {
        return Ok(Statement::Query(p.parse_query()?));
    }
    let t = p.peek_token();
    Err(parser_error(
        format_args!(
            "unsupported statement starting with {}; expected CREATE, INSERT, SELECT, SET, RESET, EXECUTE STATEMENT SET, EXPLAIN or DROP",
            t.token
        ),
        t.span.start,
    )
    .into())
}

/// A `SET`/`RESET` key or value: quoted string or bare dotted words.
fn parse_key(p: &mut Parser) -> Result<String> {
    let tok = p.peek_token();
    match &tok.token {
        Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) => {
            Ok(p.parse_literal_string()?)
        }
        _ => {
            let mut s = String::new();
            loop {
                let t = p.next_token();
                match &t.token {
                    Token::Word(w) => s.push_str(&w.value),
                    Token::Number(n, _) => s.push_str(n),
                    Token::Period => s.push('.'),
                    Token::Minus => s.push('-'),
                    other => {
                        return Err(parser_error(
                            format_args!("expected a configuration key or value, found {other}"),
                            t.span.start,
                        )
                        .into());
                    }
                }
                if matches!(
                    p.peek_token().token,
                    Token::Eq | Token::SemiColon | Token::EOF
                ) {
                    return Ok(s);
                }
            }
        }
    }
}

fn parse_statement_set(p: &mut Parser) -> Result<Statement> {
    let mut inserts = Vec::new();
    loop {
        while p.consume_token(&Token::SemiColon) {}
        if p.parse_keyword(Keyword::END) {
            return Ok(Statement::StatementSet(inserts));
        }
        let tok = p.peek_token();
        if tok.token == Token::EOF {
            // The place is the end of the text (the caller adds it).
            return Err(Error::Parse {
                location: None,
                message: "statement set is not closed: expected END".into(),
            });
        }
        // Checked before parsing, so statement sets cannot nest (and
        // recurse without bound).
        if !matches!(&tok.token, Token::Word(w) if w.keyword == Keyword::INSERT) {
            return Err(Error::Plan {
                location: Some((tok.span.start.line, tok.span.start.column)),
                message: "only INSERT statements are allowed in a statement set".into(),
            });
        }
        inserts.push(parse_one(p)?);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_file() -> Result<()> {
        let sql = "SET 'parallelism.default' = '2';\n\
                   CREATE FUNCTION count_char AS 'com.github.nexmark.flink.udf.CountChar';\n\
                   CREATE TEMPORARY VIEW v AS SELECT 1;\n\
                   EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT 1; INSERT INTO b SELECT 2; END;\n\
                   EXPLAIN INSERT INTO a SELECT 1";
        let s = parse_statements(sql)?;
        assert_eq!(s.len(), 5);
        assert!(
            matches!(&s[0].statement, Statement::Set(Some((k, v))) if k == "parallelism.default" && v == "2")
        );
        assert!(
            matches!(&s[1].statement, Statement::CreateFunction { name, .. } if name == "count_char")
        );
        assert!(matches!(&s[3].statement, Statement::StatementSet(v) if v.len() == 2));
        assert_eq!(s[4].location, (5, 1));
        Ok(())
    }

    #[test]
    fn errors_have_line_and_column() {
        let e = parse_statements("SELECT 1;\nSELEC 2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("2:1"), "{e}");
        let e = parse_statements("CREATE TABLE t (a INT,\n  b INT WITH ()")
            .unwrap_err()
            .to_string();
        assert!(e.contains("2:"), "{e}");
    }

    /// Issue 15, case 10: every parse error names a real place (never
    /// "0:0"), and no message ends with a dangling "at " where a position
    /// was left out.
    #[test]
    fn parse_errors_name_a_real_place_and_read_whole() {
        let cases: &[(&str, &str, &str)] = &[
            ("SELECT 1 2", "at 1:10:", "found 2"),
            ("SELECT 1;\nCREATE", "at 2:7:", "after CREATE, found EOF"),
            ("SELECT 1;\nFROB x", "at 2:1:", "or DROP"),
            ("SHOW x", "at 1:6:", "TABLES after SHOW, found x"),
            ("SET 'a' = ", "at 1:10:", "found EOF"),
            (
                "EXECUTE STATEMENT SET BEGIN\nINSERT INTO k SELECT 1;",
                "at 2:24:",
                "expected END",
            ),
            (
                "CREATE TABLE t (a DECIMAL(50, 2))",
                "at 1:19:",
                "scale at most the precision",
            ),
            ("CREATE TABLE t (a FROB)", "at 1:19:", "MAP<K, V>)"),
            ("CREATE TABLE t (a INT", "at 1:22:", "found: EOF"),
            (
                "EXPLAIN EXPLAIN SELECT 1",
                "at 1:9:",
                "EXPLAIN cannot explain an EXPLAIN",
            ),
            (
                "SELECT ((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))))))",
                "at 1:",
                "deeper than 50 levels",
            ),
            ("SELECT CAST(x AS ARRAY<", "at 1:", "found: EOF"),
        ];
        for (sql, place, text) in cases {
            let e = parse_statements(sql).unwrap_err().to_string();
            assert!(e.contains(place) && e.contains(text), "{sql:?}: {e}");
            assert!(!e.contains("0:0"), "{sql:?}: {e}");
            assert!(
                !e.contains(" at  ") && !e.trim_end().ends_with(" at"),
                "{sql:?}: {e}"
            );
        }
        // Types nested past the bracket limit fail before the parser
        // recurses into them.
        let nested = format!(
            "CREATE TABLE t (a {}INT{})",
            "ARRAY<".repeat(200),
            ">".repeat(200)
        );
        let e = parse_statements(&nested).unwrap_err().to_string();
        assert!(e.contains("brackets nest deeper than 100 levels"), "{e}");
        assert!(e.contains("at 1:"), "{e}");
    }
}
