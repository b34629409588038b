//! The compiled form of an expression: a tree built once by the parser, walked per evaluation.

use crate::datetime::{DateTime, Time};
use crate::decimal::Decimal;
use crate::functions::Func;

/// A literal value in the expression text.
#[derive(Clone, Debug)]
pub enum Literal {
    /// `{}`
    Empty,
    /// `true` / `false`
    Boolean(bool),
    /// `12`
    Integer(i64),
    /// `1.5`
    Decimal(Decimal),
    /// `'text'`
    String(String),
    /// `@2014-01-05`
    Date(DateTime),
    /// `@2014-01-05T10:30`
    DateTime(DateTime),
    /// `@T10:30`
    Time(Time),
    /// `5 'mg'`, `3 days`
    Quantity(Decimal, String),
}

/// A type specifier: `Quantity`, `FHIR.Patient`, `System.String`.
#[derive(Clone, Debug)]
pub struct TypeSpec {
    /// `Some("FHIR")`, `Some("System")` or `None` when unqualified.
    pub namespace: Option<String>,
    /// The type name.
    pub name: String,
}

/// Binary operators, in the spec's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `div`
    IntDiv,
    /// `mod`
    Mod,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `&`
    Concat,
    /// `|`
    Union,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `=`
    Eq,
    /// `~`
    Equiv,
    /// `!=`
    Ne,
    /// `!~`
    NotEquiv,
    /// `in`
    In,
    /// `contains`
    Contains,
    /// `and`
    And,
    /// `or`
    Or,
    /// `xor`
    Xor,
    /// `implies`
    Implies,
}

/// An expression node.
#[derive(Clone, Debug)]
pub enum Node {
    /// A literal.
    Literal(Literal),
    /// Navigate to child `name` of every item of `base` (or of the input focus).
    Member(Option<Box<Node>>, String),
    /// Call a function on `base` (or on the input focus).
    Call(Option<Box<Node>>, Func, Vec<Node>),
    /// `base[index]`
    Index(Box<Node>, Box<Node>),
    /// `$this`
    This,
    /// `$index`
    IndexVar,
    /// `$total`
    Total,
    /// `%name`
    Var(String),
    /// `-x`
    Negate(Box<Node>),
    /// `a op b`
    Binary(BinOp, Box<Node>, Box<Node>),
    /// `x is T`
    Is(Box<Node>, TypeSpec),
    /// `x as T`
    As(Box<Node>, TypeSpec),
    /// `x.ofType(T)`
    OfType(Box<Node>, TypeSpec),
    /// The input focus (for `is(T)` written without a base).
    Focus,
}
