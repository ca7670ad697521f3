//! Flink DDL that sqlparser cannot read: `CREATE TABLE` with Flink types
//! (`ROW<...>`, `TIMESTAMP_LTZ(3)`, ...), computed columns (`c AS expr`),
//! `WATERMARK FOR c AS expr` and `WITH ('k' = 'v')`.
//!
//! The parser works on sqlparser's token stream (so locations stay exact and
//! expressions are parsed by sqlparser) and maps Flink types straight to Arrow:
//! `TIMESTAMP(p)` → `Timestamp(ms)` (Riffle keeps milliseconds, Flink's
//! rowtime precision), `TIMESTAMP_LTZ(p)` → `Timestamp(ms, "UTC")`,
//! `VARCHAR`/`STRING` → `Utf8`, `DECIMAL(p, s)` → `Decimal128(p, s)`,
//! `ROW<...>` → `Struct`, `ARRAY<T>` → `List`, `MAP<K, V>` → `Map`.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use datafusion_sql::sqlparser::ast::{Expr, Ident, ObjectName};
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::parser::{Parser, ParserError};
use datafusion_sql::sqlparser::tokenizer::Token;

use crate::error::parser_error;

/// One element of a `CREATE TABLE` column list.
#[derive(Debug, Clone)]
pub enum ColumnDef {
    /// A physical column.
    Physical(Field),
    /// `name AS expr`.
    Computed {
        /// Column name.
        name: String,
        /// The expression, over the physical columns (boxed: it is large).
        expr: Box<Expr>,
    },
    /// A metadata column (`name TYPE METADATA [FROM 'key'] [VIRTUAL]`).
    Metadata {
        /// Name, type, nullability.
        field: Field,
        /// `FROM 'key'` (`None`: the column's name is the key).
        key: Option<String>,
        /// `VIRTUAL`: read only.
        is_virtual: bool,
    },
}

/// A parsed `CREATE TABLE`.
#[derive(Debug, Clone)]
pub struct CreateTable {
    /// Table name.
    pub name: ObjectName,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Columns in declaration order.
    pub columns: Vec<ColumnDef>,
    /// `WATERMARK FOR column AS expr`.
    pub watermark: Option<(Ident, Expr)>,
    /// `PRIMARY KEY (...) NOT ENFORCED`.
    pub primary_key: Vec<Ident>,
    /// `PARTITIONED BY (...)`.
    pub partitioned_by: Vec<Ident>,
    /// `WITH (...)` options.
    pub options: BTreeMap<String, String>,
    /// `(line, column)` of the statement.
    pub location: (u64, u64),
}

fn word_is(tok: &Token, s: &str) -> bool {
    matches!(tok, Token::Word(w) if w.value.eq_ignore_ascii_case(s) && w.quote_style.is_none())
}

/// Parses the rest of `CREATE [TEMPORARY] TABLE` (the caller consumed those words).
pub fn parse_create_table(
    p: &mut Parser,
    location: (u64, u64),
) -> Result<CreateTable, ParserError> {
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = p.parse_object_name(false)?;
    p.expect_token(&Token::LParen)?;
    let mut columns = Vec::new();
    let mut watermark = None;
    let mut primary_key = Vec::new();
    loop {
        let tok = p.peek_token().token;
        if word_is(&tok, "WATERMARK") {
            p.next_token();
            p.expect_keyword(Keyword::FOR)?;
            let col = p.parse_identifier()?;
            p.expect_keyword(Keyword::AS)?;
            let expr = p.parse_expr()?;
            watermark = Some((col, expr));
        } else if p.parse_keywords(&[Keyword::PRIMARY, Keyword::KEY])
            || p.parse_keywords(&[Keyword::CONSTRAINT])
        {
            if p.parse_keywords(&[Keyword::PRIMARY, Keyword::KEY]) {
                // `CONSTRAINT name PRIMARY KEY` handled below after name
            }
            if !matches!(p.peek_token().token, Token::LParen) {
                // CONSTRAINT <name> PRIMARY KEY
                p.parse_identifier()?;
                p.expect_keyword(Keyword::PRIMARY)?;
                p.expect_keyword(Keyword::KEY)?;
            }
            p.expect_token(&Token::LParen)?;
            primary_key = p.parse_comma_separated(Parser::parse_identifier)?;
            p.expect_token(&Token::RParen)?;
            let _ = p.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]);
        } else {
            columns.push(parse_column(p)?);
        }
        if p.consume_token(&Token::Comma) {
            continue;
        }
        p.expect_token(&Token::RParen)?;
        break;
    }
    if p.parse_keyword(Keyword::COMMENT) {
        p.parse_literal_string()?;
    }
    let mut partitioned_by = Vec::new();
    if p.parse_keywords(&[Keyword::PARTITIONED, Keyword::BY]) {
        p.expect_token(&Token::LParen)?;
        partitioned_by = p.parse_comma_separated(Parser::parse_identifier)?;
        p.expect_token(&Token::RParen)?;
    }
    let mut options = BTreeMap::new();
    if p.parse_keyword(Keyword::WITH) {
        options = parse_options(p)?;
    }
    Ok(CreateTable {
        name,
        if_not_exists,
        columns,
        watermark,
        primary_key,
        partitioned_by,
        options,
        location,
    })
}

/// Parses `('k' = 'v', ...)`.
pub fn parse_options(p: &mut Parser) -> Result<BTreeMap<String, String>, ParserError> {
    p.expect_token(&Token::LParen)?;
    let mut options = BTreeMap::new();
    if p.consume_token(&Token::RParen) {
        return Ok(options);
    }
    loop {
        let key = p.parse_literal_string()?;
        p.expect_token(&Token::Eq)?;
        let value = p.parse_literal_string()?;
        options.insert(key, value);
        if p.consume_token(&Token::Comma) {
            continue;
        }
        p.expect_token(&Token::RParen)?;
        return Ok(options);
    }
}

fn parse_column(p: &mut Parser) -> Result<ColumnDef, ParserError> {
    let name = p.parse_identifier()?;
    if p.parse_keyword(Keyword::AS) {
        let expr = p.parse_expr()?;
        if p.parse_keyword(Keyword::COMMENT) {
            p.parse_literal_string()?;
        }
        return Ok(ColumnDef::Computed {
            name: name.value,
            expr: Box::new(expr),
        });
    }
    let (dt, mut nullable) = parse_type(p)?;
    let mut metadata = None;
    loop {
        if p.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
            nullable = false;
        } else if p.parse_keyword(Keyword::NULL) {
            nullable = true;
        } else if p.parse_keyword(Keyword::METADATA) {
            let key = if p.parse_keyword(Keyword::FROM) {
                Some(p.parse_literal_string()?)
            } else {
                None
            };
            let is_virtual = p.parse_keyword(Keyword::VIRTUAL);
            metadata = Some((key, is_virtual));
        } else if p.parse_keyword(Keyword::COMMENT) {
            p.parse_literal_string()?;
        } else if p.parse_keywords(&[Keyword::PRIMARY, Keyword::KEY]) {
            let _ = p.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]);
        } else {
            break;
        }
    }
    let field = Field::new(name.value, dt, nullable);
    Ok(match metadata {
        Some((key, is_virtual)) => ColumnDef::Metadata {
            field,
            key,
            is_virtual,
        },
        None => ColumnDef::Physical(field),
    })
}

fn parse_u8_arg(p: &mut Parser) -> Result<u8, ParserError> {
    let tok = p.next_token();
    match &tok.token {
        Token::Number(n, _) => n.parse::<u8>().map_err(|_| {
            parser_error(
                format_args!("expected a small number, found {n}"),
                tok.span.start,
            )
        }),
        other => Err(parser_error(
            format_args!("expected a number, found {other}"),
            tok.span.start,
        )),
    }
}

/// Optional `(n)` or `(p, s)`.
fn parse_params(p: &mut Parser) -> Result<Vec<u8>, ParserError> {
    let mut out = Vec::new();
    if p.consume_token(&Token::LParen) {
        loop {
            out.push(parse_u8_arg(p)?);
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
        p.expect_token(&Token::RParen)?;
    }
    Ok(out)
}

/// Parses a Flink data type into Arrow; returns the type and whether it is nullable.
pub fn parse_type(p: &mut Parser) -> Result<(DataType, bool), ParserError> {
    let tok = p.next_token();
    let Token::Word(w) = &tok.token else {
        return Err(parser_error(
            format_args!("expected a data type, found {}", tok.token),
            tok.span.start,
        ));
    };
    let name = w.value.to_ascii_uppercase();
    let dt = match name.as_str() {
        "BOOLEAN" | "BOOL" => DataType::Boolean,
        "TINYINT" => DataType::Int8,
        "SMALLINT" => DataType::Int16,
        "INT" | "INTEGER" => DataType::Int32,
        "BIGINT" => DataType::Int64,
        "FLOAT" | "REAL" => DataType::Float32,
        "DOUBLE" => {
            let _ = p.parse_keyword(Keyword::PRECISION);
            DataType::Float64
        }
        "DECIMAL" | "DEC" | "NUMERIC" => {
            let params = parse_params(p)?;
            let precision = params.first().copied().unwrap_or(10);
            let scale = params.get(1).copied().unwrap_or(0);
            if precision == 0 || precision > 38 || scale > precision {
                return Err(parser_error(
                    format_args!(
                        "DECIMAL({precision}, {scale}) is invalid: precision must be 1..38 and scale at most the precision"
                    ),
                    tok.span.start,
                ));
            }
            DataType::Decimal128(precision, scale as i8)
        }
        "VARCHAR" | "STRING" | "CHAR" | "CHARACTER" | "TEXT" => {
            if name == "CHARACTER" {
                let _ = p.parse_keyword(Keyword::VARYING);
            }
            parse_params(p)?;
            DataType::Utf8
        }
        "BYTES" | "BINARY" | "VARBINARY" => {
            parse_params(p)?;
            DataType::Binary
        }
        "DATE" => DataType::Date32,
        "TIME" => {
            parse_params(p)?;
            if p.parse_keyword(Keyword::WITHOUT) {
                p.expect_keyword(Keyword::TIME)?;
                p.expect_keyword(Keyword::ZONE)?;
            }
            DataType::Time32(TimeUnit::Millisecond)
        }
        "TIMESTAMP" => {
            parse_params(p)?;
            if p.parse_keywords(&[Keyword::WITH, Keyword::LOCAL, Keyword::TIME, Keyword::ZONE]) {
                DataType::Timestamp(TimeUnit::Millisecond, Some(Arc::from("UTC")))
            } else {
                let _ = p.parse_keywords(&[Keyword::WITHOUT, Keyword::TIME, Keyword::ZONE]);
                DataType::Timestamp(TimeUnit::Millisecond, None)
            }
        }
        "TIMESTAMP_LTZ" => {
            parse_params(p)?;
            DataType::Timestamp(TimeUnit::Millisecond, Some(Arc::from("UTC")))
        }
        "ROW" => DataType::Struct(parse_row_fields(p)?),
        "ARRAY" => {
            p.expect_token(&Token::Lt)?;
            let (inner, nullable) = parse_type(p)?;
            expect_gt(p)?;
            DataType::List(Arc::new(Field::new("element", inner, nullable)))
        }
        "MAP" => {
            p.expect_token(&Token::Lt)?;
            let (k, _) = parse_type(p)?;
            p.expect_token(&Token::Comma)?;
            let (v, vn) = parse_type(p)?;
            expect_gt(p)?;
            let entries = Field::new(
                "entries",
                DataType::Struct(Fields::from(vec![
                    Field::new("key", k, false),
                    Field::new("value", v, vn),
                ])),
                false,
            );
            DataType::Map(Arc::new(entries), false)
        }
        other => {
            return Err(parser_error(
                format_args!(
                    "unknown data type '{other}' (supported: BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, DECIMAL(p, s), VARCHAR, STRING, BYTES, DATE, TIME, TIMESTAMP(p), TIMESTAMP_LTZ(p), ROW<...>, ARRAY<T>, MAP<K, V>)"
                ),
                tok.span.start,
            ));
        }
    };
    let mut nullable = true;
    if p.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
        nullable = false;
    }
    Ok((dt, nullable))
}

/// Flink's SQL name of a column type (the inverse of [`parse_type`]), for `DESCRIBE`.
pub fn flink_type_name(dt: &DataType) -> String {
    match dt {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BYTES".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Time32(_) | DataType::Time64(_) => "TIME(0)".into(),
        DataType::Timestamp(TimeUnit::Millisecond, None) => "TIMESTAMP(3)".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP(9)".into(),
        DataType::Timestamp(TimeUnit::Millisecond, Some(_)) => "TIMESTAMP_LTZ(3)".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMP_LTZ(9)".into(),
        DataType::Struct(fields) => format!(
            "ROW<{}>",
            fields
                .iter()
                .map(|f| format!("`{}` {}", f.name(), flink_type_name(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DataType::List(f) | DataType::LargeList(f) => {
            format!("ARRAY<{}>", flink_type_name(f.data_type()))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "MAP<{}, {}>",
                flink_type_name(kv[0].data_type()),
                flink_type_name(kv[1].data_type())
            ),
            other => other.to_string(),
        },
        DataType::Null => "NULL".into(),
        other => other.to_string(),
    }
}

/// `>`, also splitting a `>>` token (nested `ROW<a ROW<b INT>>`).
fn expect_gt(p: &mut Parser) -> Result<(), ParserError> {
    let tok = p.peek_token();
    match tok.token {
        Token::Gt => {
            p.next_token();
            Ok(())
        }
        Token::ShiftRight => Err(parser_error(
            "write '> >' instead of '>>' between nested types",
            tok.span.start,
        )),
        _ => p.expect_token(&Token::Gt).map(|_| ()),
    }
}

fn parse_row_fields(p: &mut Parser) -> Result<Fields, ParserError> {
    let close = if p.consume_token(&Token::Lt) {
        Token::Gt
    } else {
        p.expect_token(&Token::LParen)?;
        Token::RParen
    };
    let mut fields = Vec::new();
    loop {
        let name = p.parse_identifier()?;
        let (dt, nullable) = parse_type(p)?;
        if p.parse_keyword(Keyword::COMMENT) {
            p.parse_literal_string()?;
        }
        fields.push(Field::new(name.value, dt, nullable));
        if p.consume_token(&Token::Comma) {
            continue;
        }
        if close == Token::Gt {
            expect_gt(p)?;
        } else {
            p.expect_token(&close)?;
        }
        return Ok(Fields::from(fields));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::FlinkDialect;

    fn parse(sql: &str) -> Result<CreateTable, ParserError> {
        let d = FlinkDialect;
        let mut p = Parser::new(&d).try_with_sql(sql)?;
        p.expect_keyword(Keyword::CREATE)?;
        p.expect_keyword(Keyword::TABLE)?;
        parse_create_table(&mut p, (1, 1))
    }

    #[test]
    fn nexmark_datagen_table() -> Result<(), ParserError> {
        let t = parse(
            "CREATE TABLE datagen (event_type int, person ROW<id BIGINT, `dateTime` TIMESTAMP(3)>, \
             `dateTime` AS CASE WHEN event_type = 0 THEN person.`dateTime` END, \
             WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND) \
             WITH ('connector' = 'nexmark', 'events.num' = '10')",
        )?;
        assert_eq!(t.columns.len(), 3);
        assert!(
            matches!(&t.columns[1], ColumnDef::Physical(f) if matches!(f.data_type(), DataType::Struct(s) if s.len() == 2))
        );
        assert!(matches!(&t.columns[2], ColumnDef::Computed { name, .. } if name == "dateTime"));
        assert_eq!(
            t.watermark.as_ref().map(|w| w.0.value.as_str()),
            Some("dateTime")
        );
        assert_eq!(t.options.get("events.num").map(String::as_str), Some("10"));
        Ok(())
    }

    #[test]
    fn types() -> Result<(), ParserError> {
        let t = parse(
            "CREATE TABLE t (a DECIMAL(23, 3), b TIMESTAMP_LTZ(3), c VARCHAR NOT NULL, PRIMARY KEY (c) NOT ENFORCED) WITH ()",
        )?;
        let ColumnDef::Physical(a) = &t.columns[0] else {
            panic!()
        };
        assert_eq!(a.data_type(), &DataType::Decimal128(23, 3));
        let ColumnDef::Physical(c) = &t.columns[2] else {
            panic!()
        };
        assert!(!c.is_nullable());
        assert_eq!(t.primary_key.len(), 1);
        Ok(())
    }

    #[test]
    fn bad_type_names_the_supported_ones() {
        let e = parse("CREATE TABLE t (a BIGGINT) WITH ()")
            .unwrap_err()
            .to_string();
        assert!(e.contains("BIGGINT") && e.contains("BIGINT"), "{e}");
    }
}
