//! What can be wrong in a policy file. Every problem carries its line; parsing collects
//! all problems it can find before it gives up on the file.

use std::fmt;

use crate::crypto::CryptoError;

/// A policy file that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy rejected:")?;
        for problem in &self.problems {
            write!(f, " {problem};")?;
        }
        Ok(())
    }
}

/// One problem, on one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct Problem {
    /// The 1-based line.
    pub line: u32,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A `}` with no open statement.
    #[error("'}}' closes no statement")]
    UnmatchedClose,
    /// A `{` with no statement keyword before it.
    #[error("'{{' follows no statement keyword")]
    MisplacedOpen,
    /// A statement whose `}` never comes.
    #[error("{statement} is not closed by '}}'")]
    Unclosed {
        /// The statement keyword.
        statement: String,
    },
    /// A parameter line outside any statement.
    #[error("{parameter} is outside any statement")]
    OutsideStatement {
        /// The parameter keyword.
        parameter: String,
    },
    /// A statement keyword followed by more than a name.
    #[error("{statement} takes one name, found {found:?}")]
    ExtraHeaderWords {
        /// The statement keyword.
        statement: String,
        /// What followed it.
        found: Vec<String>,
    },
    /// A statement this emulation does not know.
    #[error("unsupported statement {statement}")]
    UnknownStatement {
        /// The statement keyword.
        statement: String,
    },
    /// A parameter the statement does not have.
    #[error("{statement} has no parameter {parameter}")]
    UnknownParameter {
        /// The statement keyword.
        statement: &'static str,
        /// The parameter keyword.
        parameter: String,
    },
    /// A global statement without a name.
    #[error("{statement} needs a name")]
    MissingName {
        /// The statement keyword.
        statement: &'static str,
    },
    /// A name longer than 32 characters, starting with '-', or containing ','.
    #[error("{name:?} is not a valid name (1-32 characters, no leading '-', no ',')")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// Two global statements of one kind with one name.
    #[error("{statement} {name} is already defined on line {first_line}")]
    DuplicateName {
        /// The statement keyword.
        statement: &'static str,
        /// The name.
        name: String,
        /// The line of the first definition.
        first_line: u32,
    },
    /// A required parameter is missing.
    #[error("{statement} needs {parameter}")]
    MissingParameter {
        /// The statement keyword.
        statement: &'static str,
        /// The missing parameter(s).
        parameter: &'static str,
    },
    /// A parameter given twice where only one is allowed.
    #[error("{parameter} is given more than once")]
    Repeated {
        /// The parameter keyword.
        parameter: String,
    },
    /// A value that the parameter does not take.
    #[error("{parameter} {value} is not valid: expected {expected}")]
    InvalidValue {
        /// The parameter keyword.
        parameter: String,
        /// The value as written.
        value: String,
        /// What the parameter takes.
        expected: &'static str,
    },
    /// A value that z/OS accepts but this emulation does not implement.
    #[error("{parameter} {value} is not supported by the emulated IKE (supported: {supported})")]
    Unsupported {
        /// The parameter keyword.
        parameter: String,
        /// The value as written.
        value: String,
        /// What is supported.
        supported: &'static str,
    },
    /// A `...Ref` to a statement that is not defined.
    #[error("{parameter} {name} refers to no {statement}")]
    UnknownReference {
        /// The reference parameter.
        parameter: String,
        /// The referenced name.
        name: String,
        /// The statement kind it should name.
        statement: &'static str,
    },
    /// An algorithm combination the crypto layer refuses.
    #[error("inconsistent algorithms: {0}")]
    Crypto(CryptoError),
}
