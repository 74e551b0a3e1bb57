//! Problems found in policy files, each with its location, and the report
//! of a whole load.

use std::fmt;
use std::path::{Path, PathBuf};

use super::outline::shown;
use super::Policy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: u64,
    pub column: u64,
    /// The policy's `name`, when it is known.
    pub policy: Option<String>,
    /// The key path, e.g. `scale_in.max_step`.
    pub key: Option<String>,
    pub message: String,
    /// A one-line suggestion for the fix.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `line`:`column` of `file` (line 0: the whole file).
    pub fn error(file: &Path, line: u64, column: u64, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line,
            column,
            policy: None,
            key: None,
            message: message.into(),
            hint: None,
        }
    }

    /// A warning at `line`:`column` of `file`.
    pub fn warning(file: &Path, line: u64, column: u64, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, line, column, message)
        }
    }

    /// Name the policy. A name as written may be anything (a megabyte, a
    /// newline): it is kept to one line and to the 64 characters a valid
    /// name can have.
    pub fn with_policy(mut self, policy: Option<&str>) -> Diagnostic {
        self.policy = policy.map(|name| shown(name, 64));
        self
    }

    pub fn with_key(mut self, key: impl fmt::Display) -> Diagnostic {
        let key = key.to_string();
        self.key = (!key.is_empty()).then_some(key);
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // The whole file: a position would point nowhere.
            write!(f, "{}: ", self.file.display())?;
        } else {
            write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        }
        f.write_str(match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })?;
        if let Some(policy) = &self.policy {
            write!(f, ": policy '{policy}'")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Every error found while loading policies; loading fails as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyErrors {
    pub errors: Vec<Diagnostic>,
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// The valid policies of a load, with warnings that do not fail it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedPolicies {
    pub policies: Vec<Policy>,
    pub warnings: Vec<Diagnostic>,
}

/// Everything a load found: the policies that are valid, and every problem.
///
/// A policy with an error of its own is left out; where two policies clash
/// (same name, same service) the one read first is kept and the later one
/// carries the error. The daemon can run the valid policies while the others
/// are fixed; `validate` and [`super::load_path`] treat any error as failure.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyReport {
    pub policies: Vec<Policy>,
    /// Errors and warnings, ordered by file, line and column.
    pub diagnostics: Vec<Diagnostic>,
}

impl PolicyReport {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }

    /// True when nothing is an error (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.errors().next().is_none()
    }

    /// All the policies with the warnings, or every error.
    pub fn into_result(self) -> Result<LoadedPolicies, PolicyErrors> {
        let (errors, warnings): (Vec<_>, Vec<_>) =
            self.diagnostics.into_iter().partition(Diagnostic::is_error);
        if errors.is_empty() {
            Ok(LoadedPolicies {
                policies: self.policies,
                warnings,
            })
        } else {
            Err(PolicyErrors { errors })
        }
    }
}
