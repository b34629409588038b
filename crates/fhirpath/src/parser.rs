//! Lexer and precedence-climbing parser for the FHIRPath grammar (N1 §A).
//!
//! Nesting is bounded ([`MAX_DEPTH`]) so that hostile input (`((((…`, `1+1+1+…`) gets a
//! [`ParseError`] instead of overflowing the stack, here or later when the tree is walked
//! or dropped.

use std::sync::OnceLock;

use regex::Regex;

use crate::ast::{BinOp, Literal, Node, TypeSpec};
use crate::datetime::{DateTime, Time};
use crate::decimal::Decimal;
use crate::functions::Func;
use crate::ParseError;

/// Deepest expression tree accepted.
pub const MAX_DEPTH: u32 = 200;
/// Longest expression text accepted, in bytes.
pub const MAX_LEN: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String, bool),
    Str(String),
    Num(String),
    DateLit(String),
    Env(String),
    Dollar(String),
    Sym(&'static str),
    Eof,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    pos: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s, _) => format!("identifier '{s}'"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Num(s) => format!("number {s}"),
        Tok::DateLit(s) => format!("date/time @{s}"),
        Tok::Env(s) => format!("%{s}"),
        Tok::Dollar(s) => format!("${s}"),
        Tok::Sym(s) => format!("'{s}'"),
        Tok::Eof => "end of expression".into(),
    }
}

fn err(pos: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        position: pos,
        message: message.into(),
    }
}

fn date_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^(?:T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?|\d{4}(?:-\d{2}(?:-\d{2})?)?(?:T(?:\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?(?:Z|[+-]\d{2}:\d{2})?)?)",
        )
        .expect("static regex is valid")
    })
}

const SYMBOLS: [&str; 22] = [
    "<=", ">=", "!=", "!~", "(", ")", "[", "]", "{", "}", ".", ",", "+", "-", "*", "/", "&", "|",
    "<", ">", "=", "~",
];

fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // Positions are reported in characters, not bytes.
    let char_pos = |byte: usize| src[..byte].chars().count();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if src[i..].starts_with("//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if src[i..].starts_with("/*") {
            match src[i + 2..].find("*/") {
                Some(e) => i = i + 2 + e + 2,
                None => return Err(err(char_pos(i), "expected '*/' to close the comment")),
            }
            continue;
        }
        let start = i;
        if c == b'\'' || c == b'`' || c == b'"' {
            let (s, next) = lex_string(src, i, c).map_err(|(p, m)| err(char_pos(p), m))?;
            i = next;
            out.push(Token {
                tok: if c == b'`' {
                    Tok::Ident(s, true)
                } else {
                    Tok::Str(s)
                },
                pos: char_pos(start),
            });
            continue;
        }
        if c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            out.push(Token {
                tok: Tok::Num(src[start..i].to_string()),
                pos: char_pos(start),
            });
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(src[start..i].to_string(), false),
                pos: char_pos(start),
            });
            continue;
        }
        if c == b'@' {
            let m = date_regex()
                .find(&src[i + 1..])
                .map(|m| m.as_str())
                .unwrap_or("");
            if m.is_empty() {
                return Err(err(
                    char_pos(i),
                    "expected a date, date-time or time after '@'",
                ));
            }
            i += 1 + m.len();
            out.push(Token {
                tok: Tok::DateLit(m.to_string()),
                pos: char_pos(start),
            });
            continue;
        }
        if c == b'%' || c == b'$' {
            i += 1;
            let name = if i < b.len() && (b[i] == b'`' || b[i] == b'\'' || b[i] == b'"') {
                let (s, next) = lex_string(src, i, b[i]).map_err(|(p, m)| err(char_pos(p), m))?;
                i = next;
                s
            } else {
                let s0 = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                if s0 == i {
                    return Err(err(
                        char_pos(start),
                        format!("expected a name after '{}'", c as char),
                    ));
                }
                src[s0..i].to_string()
            };
            out.push(Token {
                tok: if c == b'%' {
                    Tok::Env(name)
                } else {
                    Tok::Dollar(name)
                },
                pos: char_pos(start),
            });
            continue;
        }
        match SYMBOLS.iter().find(|s| src[i..].starts_with(**s)) {
            Some(s) => {
                i += s.len();
                out.push(Token {
                    tok: Tok::Sym(s),
                    pos: char_pos(start),
                });
            }
            None => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(err(char_pos(i), format!("unexpected character '{ch}'")));
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: src.chars().count(),
    });
    Ok(out)
}

fn lex_string(src: &str, start: usize, quote: u8) -> Result<(String, usize), (usize, String)> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((k, ch)) = chars.next() {
        let at = start + 1 + k;
        if ch as u32 == quote as u32 {
            return Ok((out, at + 1));
        }
        if ch == '\\' {
            let Some((_, e)) = chars.next() else { break };
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = (0..4).filter_map(|_| chars.next().map(|x| x.1)).collect();
                    let v = u32::from_str_radix(&hex, 16)
                        .map_err(|_| (at, "expected 4 hex digits after \\u".to_string()))?;
                    out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                }
                other => out.push(other),
            }
            continue;
        }
        out.push(ch);
    }
    Err((
        start,
        format!("expected closing {} for the literal", quote as char),
    ))
}

const CALENDAR_UNITS: [&str; 16] = [
    "year",
    "years",
    "month",
    "months",
    "week",
    "weeks",
    "day",
    "days",
    "hour",
    "hours",
    "minute",
    "minutes",
    "second",
    "seconds",
    "millisecond",
    "milliseconds",
];

struct Parser {
    toks: Vec<Token>,
    i: usize,
    depth: u32,
}

type Parsed = (Node, u32);

/// Parse expression text into a tree.
pub fn parse(src: &str) -> Result<Node, ParseError> {
    if src.len() > MAX_LEN {
        return Err(err(0, format!("expression longer than {MAX_LEN} bytes")));
    }
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        depth: 0,
    };
    let (node, _) = p.expr(0)?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        return Err(err(
            t.pos,
            format!(
                "expected an operator or end of expression, found {}",
                describe(&t.tok)
            ),
        ));
    }
    Ok(node)
}

fn binop(t: &Tok) -> Option<(BinOp, u8)> {
    let op = match t {
        Tok::Sym(s) => match *s {
            "*" => (BinOp::Mul, 10),
            "/" => (BinOp::Div, 10),
            "+" => (BinOp::Add, 9),
            "-" => (BinOp::Sub, 9),
            "&" => (BinOp::Concat, 9),
            "|" => (BinOp::Union, 7),
            "<" => (BinOp::Lt, 6),
            ">" => (BinOp::Gt, 6),
            "<=" => (BinOp::Le, 6),
            ">=" => (BinOp::Ge, 6),
            "=" => (BinOp::Eq, 5),
            "~" => (BinOp::Equiv, 5),
            "!=" => (BinOp::Ne, 5),
            "!~" => (BinOp::NotEquiv, 5),
            _ => return None,
        },
        Tok::Ident(s, false) => match s.as_str() {
            "div" => (BinOp::IntDiv, 10),
            "mod" => (BinOp::Mod, 10),
            "in" => (BinOp::In, 4),
            "contains" => (BinOp::Contains, 4),
            "and" => (BinOp::And, 3),
            "or" => (BinOp::Or, 2),
            "xor" => (BinOp::Xor, 2),
            "implies" => (BinOp::Implies, 1),
            _ => return None,
        },
        _ => return None,
    };
    Some(op)
}

/// Precedence of `is` / `as`.
const TYPE_OP_PREC: u8 = 8;

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }
    fn peek_at(&self, k: usize) -> &Tok {
        &self.toks[(self.i + k).min(self.toks.len() - 1)].tok
    }
    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }
    fn expect_sym(&mut self, s: &'static str) -> Result<(), ParseError> {
        let t = self.next();
        if t.tok == Tok::Sym(s) {
            Ok(())
        } else {
            Err(err(
                t.pos,
                format!("expected '{s}', found {}", describe(&t.tok)),
            ))
        }
    }
    fn check_depth(&self, d: u32, pos: usize) -> Result<u32, ParseError> {
        if d > MAX_DEPTH || self.depth > MAX_DEPTH {
            Err(err(
                pos,
                format!("expression nested deeper than {MAX_DEPTH} levels"),
            ))
        } else {
            Ok(d)
        }
    }

    fn expr(&mut self, min_prec: u8) -> Result<Parsed, ParseError> {
        self.depth += 1;
        let pos = self.peek().pos;
        self.check_depth(0, pos)?;
        let (mut lhs, mut d) = self.unary()?;
        loop {
            let t = self.peek().clone();
            if let Tok::Ident(w, false) = &t.tok {
                if (w == "is" || w == "as") && TYPE_OP_PREC >= min_prec {
                    self.next();
                    let ts = self.type_spec()?;
                    d = self.check_depth(d + 1, t.pos)?;
                    lhs = if w == "is" {
                        Node::Is(Box::new(lhs), ts)
                    } else {
                        Node::As(Box::new(lhs), ts)
                    };
                    continue;
                }
            }
            let Some((op, prec)) = binop(&t.tok) else {
                break;
            };
            if prec < min_prec {
                break;
            }
            self.next();
            let (rhs, rd) = self.expr(prec + 1)?;
            d = self.check_depth(d.max(rd) + 1, t.pos)?;
            lhs = Node::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        self.depth -= 1;
        Ok((lhs, d))
    }

    fn type_spec(&mut self) -> Result<TypeSpec, ParseError> {
        let t = self.next();
        let Tok::Ident(first, _) = t.tok else {
            return Err(err(
                t.pos,
                format!("expected a type name, found {}", describe(&t.tok)),
            ));
        };
        if self.peek().tok == Tok::Sym(".") {
            if let Tok::Ident(second, _) = self.peek_at(1).clone() {
                self.next();
                self.next();
                return Ok(TypeSpec {
                    namespace: Some(first),
                    name: second,
                });
            }
        }
        Ok(TypeSpec {
            namespace: None,
            name: first,
        })
    }

    fn unary(&mut self) -> Result<Parsed, ParseError> {
        let t = self.peek().clone();
        if t.tok == Tok::Sym("-") || t.tok == Tok::Sym("+") {
            self.next();
            self.depth += 1;
            self.check_depth(0, t.pos)?;
            let (inner, d) = self.unary()?;
            self.depth -= 1;
            if t.tok == Tok::Sym("+") {
                return Ok((inner, d));
            }
            let node = match inner {
                Node::Literal(Literal::Integer(v)) => Node::Literal(Literal::Integer(-v)),
                Node::Literal(Literal::Decimal(v)) => Node::Literal(Literal::Decimal(v.negate())),
                Node::Literal(Literal::Quantity(v, u)) => {
                    Node::Literal(Literal::Quantity(v.negate(), u))
                }
                other => Node::Negate(Box::new(other)),
            };
            return Ok((node, self.check_depth(d + 1, t.pos)?));
        }
        let (mut node, mut d) = self.term()?;
        loop {
            let t = self.peek().clone();
            match t.tok {
                Tok::Sym(".") => {
                    self.next();
                    let nt = self.next();
                    let Tok::Ident(name, quoted) = nt.tok else {
                        return Err(err(
                            nt.pos,
                            format!("expected a name after '.', found {}", describe(&nt.tok)),
                        ));
                    };
                    d = self.check_depth(d + 1, nt.pos)?;
                    if !quoted && self.peek().tok == Tok::Sym("(") {
                        let (call, cd) = self.call(Some(node), name, nt.pos)?;
                        node = call;
                        d = self.check_depth(d.max(cd), nt.pos)?;
                    } else {
                        node = Node::Member(Some(Box::new(node)), name);
                    }
                }
                Tok::Sym("[") => {
                    self.next();
                    let (idx, id) = self.expr(0)?;
                    self.expect_sym("]")?;
                    d = self.check_depth(d.max(id) + 1, t.pos)?;
                    node = Node::Index(Box::new(node), Box::new(idx));
                }
                _ => break,
            }
        }
        Ok((node, d))
    }

    fn call(&mut self, base: Option<Node>, name: String, pos: usize) -> Result<Parsed, ParseError> {
        self.expect_sym("(")?;
        let mut args = Vec::new();
        let mut d = 1;
        if self.peek().tok != Tok::Sym(")") {
            loop {
                let (a, ad) = self.expr(0)?;
                d = d.max(ad + 1);
                args.push(a);
                if self.peek().tok == Tok::Sym(",") {
                    self.next();
                    continue;
                }
                break;
            }
        }
        self.expect_sym(")")?;
        let base_box = base.map(Box::new);
        if matches!(name.as_str(), "is" | "as" | "ofType") {
            let [arg] = <[Node; 1]>::try_from(args).map_err(|_| {
                err(
                    pos,
                    format!("expected exactly one type name as the argument of {name}()"),
                )
            })?;
            let ts = node_to_type_spec(&arg).ok_or_else(|| {
                err(
                    pos,
                    format!("expected a type name as the argument of {name}()"),
                )
            })?;
            let b = base_box.unwrap_or_else(|| Box::new(Node::Focus));
            let node = match name.as_str() {
                "is" => Node::Is(b, ts),
                "as" => Node::As(b, ts),
                _ => Node::OfType(b, ts),
            };
            return Ok((node, d + 1));
        }
        let Some(func) = Func::from_name(&name) else {
            return Err(err(pos, format!("unknown function '{name}'")));
        };
        let (min, max) = func.arity();
        if args.len() < min || args.len() > max {
            return Err(err(
                pos,
                format!(
                    "expected {} argument(s) for {name}(), found {}",
                    if min == max {
                        min.to_string()
                    } else {
                        format!("{min}-{max}")
                    },
                    args.len()
                ),
            ));
        }
        Ok((Node::Call(base_box, func, args), d + 1))
    }

    fn term(&mut self) -> Result<Parsed, ParseError> {
        let t = self.next();
        let node = match t.tok {
            Tok::Num(text) => {
                // A quantity: number followed by a unit string or a calendar unit word.
                let unit = match self.peek().tok.clone() {
                    Tok::Str(u) => Some(u),
                    Tok::Ident(u, false) if CALENDAR_UNITS.contains(&u.as_str()) => Some(u),
                    _ => None,
                };
                let value = Decimal::parse(&text)
                    .ok_or_else(|| err(t.pos, format!("number {text} out of range")))?;
                if let Some(u) = unit {
                    self.next();
                    Node::Literal(Literal::Quantity(value, u))
                } else if text.contains('.') {
                    Node::Literal(Literal::Decimal(value))
                } else {
                    match text.parse::<i64>() {
                        Ok(v) => Node::Literal(Literal::Integer(v)),
                        _ => return Err(err(t.pos, format!("integer {text} out of range"))),
                    }
                }
            }
            Tok::Str(s) => Node::Literal(Literal::String(s)),
            Tok::DateLit(text) => Node::Literal(
                date_literal(&text)
                    .ok_or_else(|| err(t.pos, format!("invalid date/time @{text}")))?,
            ),
            Tok::Env(name) => Node::Var(name),
            Tok::Dollar(name) => match name.as_str() {
                "this" => Node::This,
                "index" => Node::IndexVar,
                "total" => Node::Total,
                _ => {
                    return Err(err(
                        t.pos,
                        format!("expected $this, $index or $total, found ${name}"),
                    ))
                }
            },
            Tok::Sym("(") => {
                let (e, d) = self.expr(0)?;
                self.expect_sym(")")?;
                return Ok((e, d));
            }
            Tok::Sym("{") => {
                self.expect_sym("}")?;
                Node::Literal(Literal::Empty)
            }
            Tok::Ident(name, quoted) => {
                if !quoted && self.peek().tok == Tok::Sym("(") {
                    return self.call(None, name, t.pos);
                }
                match (name.as_str(), quoted) {
                    ("true", false) => Node::Literal(Literal::Boolean(true)),
                    ("false", false) => Node::Literal(Literal::Boolean(false)),
                    _ => Node::Member(None, name),
                }
            }
            other => {
                return Err(err(
                    t.pos,
                    format!("expected an expression, found {}", describe(&other)),
                ))
            }
        };
        Ok((node, 1))
    }
}

fn node_to_type_spec(n: &Node) -> Option<TypeSpec> {
    match n {
        Node::Member(None, name) => Some(TypeSpec {
            namespace: None,
            name: name.clone(),
        }),
        Node::Member(Some(base), name) => match base.as_ref() {
            Node::Member(None, ns) => Some(TypeSpec {
                namespace: Some(ns.clone()),
                name: name.clone(),
            }),
            _ => None,
        },
        _ => None,
    }
}

fn date_literal(text: &str) -> Option<Literal> {
    if let Some(t) = text.strip_prefix('T') {
        return Time::parse(t).map(Literal::Time);
    }
    let (dt, has_time) = DateTime::parse(text)?;
    Some(if has_time {
        Literal::DateTime(dt)
    } else {
        Literal::Date(dt)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_an_error() {
        let src = "(".repeat(100_000);
        assert!(parse(&src).is_err());
        let chain = vec!["1"; 5000].join("+");
        assert!(parse(&chain).is_err());
    }

    #[test]
    fn error_says_what_and_where() {
        let e = parse("2 + 2 /").expect_err("error");
        assert_eq!(e.position, 7);
        assert!(
            e.message.contains("expected an expression"),
            "{}",
            e.message
        );
    }
}
