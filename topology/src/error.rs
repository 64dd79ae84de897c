//! Load errors: every problem of a file, each with its place.

use std::fmt;

use crate::input::ReadFileError;

/// One problem in a topology file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// 1-based column, 0 when unknown.
    pub column: u32,
    /// Path of the field, e.g. `links[3].endpoints[1]` or `nodes.vpp1.sid`
    /// (empty for YAML syntax errors).
    pub field: String,
    /// What is wrong and, where possible, what would be right.
    pub message: String,
}

/// Why a topology could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read, or is not one that is read: not a
    /// regular file, larger than [`crate::MAX_INPUT_FILE_BYTES`], not UTF-8.
    #[error(transparent)]
    Read(#[from] ReadFileError),
    /// The file was read but is not a valid topology; lists every problem found.
    #[error("{}", Problems { file, problems })]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

impl LoadError {
    /// The problems of an invalid file (empty for read errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            LoadError::Invalid { problems, .. } => problems,
            LoadError::Read(_) => &[],
        }
    }
}

/// Display: one `file:line:column: field: message` line per problem
/// (the format compilers use, so editors can jump to it). Public so every
/// YAML file of the workspace reports problems the same way.
#[derive(Debug)]
pub struct Problems<'a> {
    pub file: &'a str,
    pub problems: &'a [Problem],
}

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file)?;
            if p.line > 0 {
                write!(f, ":{}:{}", p.line, p.column)?;
            }
            if p.field.is_empty() {
                write!(f, ": {}", p.message)?;
            } else {
                write!(f, ": {}: {}", p.field, p.message)?;
            }
        }
        Ok(())
    }
}
