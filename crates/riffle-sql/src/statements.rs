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
use datafusion_sql::sqlparser::tokenizer::Token;

use crate::Result;
use crate::ddl::{CreateTable, parse_create_table};
use crate::dialect::FlinkDialect;

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

/// Parses a whole file.
pub fn parse_statements(sql: &str) -> Result<Vec<Located>> {
    let dialect = FlinkDialect;
    let mut p = Parser::new(&dialect).try_with_sql(sql)?;
    let mut out = Vec::new();
    loop {
        while p.consume_token(&Token::SemiColon) {}
        if p.peek_token().token == Token::EOF {
            break;
        }
        out.push(parse_one(&mut p)?);
        let tok = p.peek_token();
        match tok.token {
            Token::SemiColon | Token::EOF => {}
            other => {
                return Err(ParserError::ParserError(format!(
                    "expected ';' or end of input after the statement, found {other} at {}",
                    tok.span.start
                ))
                .into());
            }
        }
    }
    Ok(out)
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
        return Err(ParserError::ParserError(format!(
            "expected TABLE, VIEW or FUNCTION after CREATE, found {} at {}",
            next.token, next.span.start
        ))
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
        let inner = parse_one(p)?;
        return Ok(Statement::Explain(Box::new(inner)));
    }
    if word_is(&tok, "SHOW") {
        p.next_token();
        if !p.parse_keyword(Keyword::TABLES) {
            let next = p.peek_token();
            return Err(ParserError::ParserError(format!(
                "expected TABLES after SHOW, found {} at {}",
                next.token, next.span.start
            ))
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
            return Err(ParserError::ParserError(format!(
                "expected TABLE, VIEW or FUNCTION after DROP, found {} at {}",
                next.token, next.span.start
            ))
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
    Err(ParserError::ParserError(format!(
        "unsupported statement starting with {} at {}; expected CREATE, INSERT, SELECT, SET, RESET, EXECUTE STATEMENT SET, EXPLAIN or DROP",
        t.token, t.span.start
    ))
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
                        return Err(ParserError::ParserError(format!(
                            "expected a configuration key or value, found {other} at {}",
                            t.span.start
                        ))
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
            return Err(ParserError::ParserError(format!(
                "statement set is not closed: expected END at {}",
                tok.span.start
            ))
            .into());
        }
        let inner = parse_one(p)?;
        if !matches!(inner.statement, Statement::Insert(_)) {
            return Err(crate::Error::Plan {
                location: Some(inner.location),
                message: "only INSERT statements are allowed in a statement set".into(),
            });
        }
        inserts.push(inner);
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
}
