//! Where the commands read policies from: the `--policies PATH` given,
//! else the `BACKLOG_SCALER_POLICIES` environment variable holding the YAML
//! itself (for platforms that cannot mount files into a container), else
//! the `policies` directory.
//!
//! Policies from the variable are named `$BACKLOG_SCALER_POLICIES` in every
//! message, with the line and column within its text.

use std::fmt;
use std::path::PathBuf;

use anyhow::bail;
use backlog_scaler::policy::{
    check_path_in, check_str_in, LoadedPolicies, Policy, PolicyErrors, PolicyReport,
};

/// The environment variable that may hold the policies' YAML.
pub const POLICIES_ENV: &str = "BACKLOG_SCALER_POLICIES";

/// Where policies are read when neither `--policies` nor the variable says.
pub const DEFAULT_POLICIES: &str = "policies";

/// The help text of every command's `--policies`.
pub const POLICIES_HELP: &str = "A policy file, or a directory of `*.yaml` / `*.yml` policy files \
     [default: the YAML in $BACKLOG_SCALER_POLICIES if set, else `policies`]";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// A file or a directory of files, which can change while we run.
    Path(PathBuf),
    /// YAML text from [`POLICIES_ENV`], fixed for the life of the process.
    Env(String),
}

impl PolicySource {
    /// `--policies` if given, else the environment variable if set and not
    /// empty (as clap treats empty variables), else [`DEFAULT_POLICIES`].
    pub fn resolve(flag: Option<PathBuf>) -> anyhow::Result<PolicySource> {
        Self::resolve_from(flag, std::env::var_os(POLICIES_ENV))
    }

    fn resolve_from(
        flag: Option<PathBuf>,
        env: Option<std::ffi::OsString>,
    ) -> anyhow::Result<PolicySource> {
        if let Some(path) = flag {
            return Ok(PolicySource::Path(path));
        }
        match env.filter(|value| !value.is_empty()) {
            None => Ok(PolicySource::Path(PathBuf::from(DEFAULT_POLICIES))),
            Some(value) => match value.into_string() {
                Ok(text) => Ok(PolicySource::Env(text)),
                Err(_) => bail!("{POLICIES_ENV} is not valid UTF-8"),
            },
        }
    }

    /// The name messages give the source: the path, or `$BACKLOG_SCALER_POLICIES`.
    pub fn origin(&self) -> PathBuf {
        match self {
            PolicySource::Path(path) => path.clone(),
            PolicySource::Env(_) => PathBuf::from(format!("${POLICIES_ENV}")),
        }
    }

    /// Every valid policy and every problem.
    pub fn check(&self) -> PolicyReport {
        self.check_in(None)
    }

    /// [`Self::check`] for a controller whose region is `home_region`: URLs
    /// and ARNs of policies without `region` must name it.
    pub fn check_in(&self, home_region: Option<&str>) -> PolicyReport {
        match self {
            PolicySource::Path(path) => check_path_in(path, home_region),
            PolicySource::Env(text) => check_str_in(&self.origin(), text, home_region),
        }
    }

    /// Once the controller's region is known (`plan`, `run`): every policy
    /// without `region` whose queue URL or ARN names another region is an
    /// error, printed on stderr; their number when there are any.
    pub fn check_home_region(&self, home_region: &str) -> Result<(), usize> {
        let report = self.check_in(Some(home_region));
        let errors: Vec<_> = report.errors().collect();
        for error in &errors {
            eprintln!("{error}");
        }
        match errors.len() {
            0 => Ok(()),
            problems => Err(problems),
        }
    }

    /// The policies, or every error if any policy is invalid.
    pub fn load(&self) -> Result<LoadedPolicies, PolicyErrors> {
        self.check().into_result()
    }

    /// The `validate` command that checks this source, for hints.
    pub fn validate_command(&self) -> String {
        match self {
            PolicySource::Path(path) => format!("backlog-scaler validate {}", path.display()),
            PolicySource::Env(_) => "backlog-scaler validate".to_owned(),
        }
    }

    /// The valid policy named `name`. Other policies' errors do not stop it
    /// (they earn a warning); its own errors, or an unknown name, do.
    pub fn find(&self, name: &str) -> anyhow::Result<Policy> {
        let report = self.check();
        if let Some(policy) = report.policies.iter().find(|p| p.name == name) {
            if !report.is_valid() {
                eprintln!(
                    "warning: other policies in {self} have errors; run `{}`",
                    self.validate_command()
                );
            }
            return Ok(policy.clone());
        }
        let own_errors: Vec<String> = report
            .errors()
            .filter(|d| d.policy.as_deref() == Some(name))
            .map(ToString::to_string)
            .collect();
        if !own_errors.is_empty() {
            anyhow::bail!("policy `{name}` is not valid:\n{}", own_errors.join("\n"));
        }
        let names: Vec<&str> = report.policies.iter().map(|p| p.name.as_str()).collect();
        if names.is_empty() {
            anyhow::bail!(
                "no valid policy in {self}; run `{}`",
                self.validate_command()
            );
        }
        anyhow::bail!(
            "no policy named `{name}` in {self}; the policies are: {}",
            names.join(", ")
        )
    }

    /// Load for a command that needs every policy valid (`plan`, `run`):
    /// warns when the flag shadows the variable, prints every error on
    /// stderr and returns their number when any policy is invalid.
    pub fn load_or_report(&self) -> Result<LoadedPolicies, usize> {
        if self.shadows_env() {
            tracing::warn!("--policies {self} is given, so {POLICIES_ENV} is ignored");
        }
        match self.load() {
            Ok(loaded) => Ok(loaded),
            Err(errors) => {
                for error in &errors.errors {
                    eprintln!("{error}");
                }
                Err(errors.errors.len())
            }
        }
    }

    /// `--policies` was given while the variable is set too: the flag wins,
    /// which deserves a word in case the variable was meant.
    pub fn shadows_env(&self) -> bool {
        matches!(self, PolicySource::Path(_))
            && std::env::var_os(POLICIES_ENV).is_some_and(|value| !value.is_empty())
    }
}

impl fmt::Display for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.origin().display(), f)
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    #[test]
    fn the_flag_wins_then_the_variable_then_the_default() {
        let yaml = || Some(OsString::from("name: a\n"));
        assert_eq!(
            PolicySource::resolve_from(Some("p.yaml".into()), yaml()).unwrap(),
            PolicySource::Path("p.yaml".into())
        );
        assert_eq!(
            PolicySource::resolve_from(None, yaml()).unwrap(),
            PolicySource::Env("name: a\n".into())
        );
        assert_eq!(
            PolicySource::resolve_from(None, Some(OsString::new())).unwrap(),
            PolicySource::Path(DEFAULT_POLICIES.into())
        );
        assert_eq!(
            PolicySource::resolve_from(None, None).unwrap(),
            PolicySource::Path(DEFAULT_POLICIES.into())
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_variable_that_is_not_utf8_is_an_error() {
        use std::os::unix::ffi::OsStringExt;
        let error =
            PolicySource::resolve_from(None, Some(OsString::from_vec(vec![0xff]))).unwrap_err();
        assert_eq!(
            error.to_string(),
            "BACKLOG_SCALER_POLICIES is not valid UTF-8"
        );
    }

    #[test]
    fn messages_name_the_variable() {
        let source = PolicySource::Env("name: [\n".into());
        let errors = source.load().unwrap_err();
        let first = errors.errors[0].to_string();
        assert!(first.starts_with("$BACKLOG_SCALER_POLICIES:"), "{first}");
        assert_eq!(source.to_string(), "$BACKLOG_SCALER_POLICIES");
    }
}
