//! Reads `.keygate.toml`.
//!
//! A typo in an allowlist must never silently allow nothing or everything, so
//! unknown keys are errors and every error names the file and, for syntax,
//! the line and column. This module only parses and validates; applying the
//! allowlist is `allowlist`'s job.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file name looked up at the repository root (or the current directory for `scan`).
pub const CONFIG_FILE_NAME: &str = ".keygate.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read config: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: invalid config: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: allowlist.regexes[{index}]: invalid regex: {message}")]
    RegexInvalid {
        path: PathBuf,
        index: usize,
        message: String,
    },
    #[error("{path}: rules[{index}] `{id}`: {problem}")]
    RuleInvalid {
        path: PathBuf,
        index: usize,
        id: String,
        problem: String,
    },
    #[error("{path}: allowlist.baseline: cannot read {baseline}: {source}")]
    BaselineUnreadable {
        path: PathBuf,
        baseline: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: detect.disable: no built-in rule `{id}`")]
    DisabledRuleUnknown { path: PathBuf, id: String },
    #[error("{path}: allowlist.paths[{index}]: invalid glob: {message}")]
    GlobInvalid {
        path: PathBuf,
        index: usize,
        message: String,
    },
}

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub allowlist: AllowlistConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub detect: DetectConfig,
    /// `[[rules]]`: custom detectors.
    #[serde(default)]
    pub rules: Vec<CustomRuleConfig>,
    /// Where the config came from, for error messages (not part of the file).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `[allowlist]`: what never blocks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistConfig {
    /// Globs, relative to the repository root (or the config's directory).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Regexes matched against the found value.
    #[serde(default)]
    pub regexes: Vec<String>,
    /// Fingerprints as printed by a report.
    #[serde(default)]
    pub fingerprints: Vec<String>,
    /// A baseline file written by `keygate history --write-baseline`
    /// (relative to the config file): its fingerprints are allowed too.
    #[serde(default)]
    pub baseline: Option<PathBuf>,
}

/// `[detect]`: switches for the built-in detection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// Built-in rule ids to turn off.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Look for the exact values of the user's own keys (`~/.aws/credentials`,
    /// `AWS_SHARED_CREDENTIALS_FILE`, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`).
    #[serde(default = "yes")]
    pub own_keys: bool,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            disable: Vec::new(),
            own_keys: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// One `[[rules]]` entry: a custom detector, for key formats the built-in
/// rules do not know yet.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRuleConfig {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Regex over bytes; a group named `value`, or `secret_group`, is the secret.
    pub regex: String,
    /// Prefilter literals, matched as written and as lower, UPPER and
    /// Capitalized: input without one is not searched.
    pub keywords: Vec<String>,
    /// Which capture group is the secret (default: a group named `value`, else the whole match).
    #[serde(default)]
    pub secret_group: Option<usize>,
    /// Minimum Shannon entropy (bits per character) of the secret.
    #[serde(default)]
    pub min_entropy: Option<f64>,
    /// Inputs the rule must find: checked when the config is loaded.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Inputs the rule must not find: checked when the config is loaded.
    #[serde(default)]
    pub negatives: Vec<String>,
}

/// `[server]`: how the pre-receive hook spends its time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Seconds the hook may spend before it stops (GitHub Enterprise gives
    /// pre-receive hooks 5 s; the default leaves room for git itself).
    #[serde(default = "default_time_budget", deserialize_with = "budget_seconds")]
    pub time_budget_seconds: f64,
    /// What to do when the budget runs out: `reject` (fail closed) or `accept`.
    #[serde(default)]
    pub on_timeout: OnTimeout,
    /// Push protection policy (`policy`): the audit log (JSON lines; relative
    /// to the config file), inline markers, bypass, who may bypass, and
    /// where the pusher's identity comes from.
    #[serde(default)]
    pub audit_log: Option<PathBuf>,
    #[serde(default)]
    pub inline_allow: crate::policy::InlineAllow,
    #[serde(default)]
    pub bypass: crate::policy::Bypass,
    #[serde(default)]
    pub bypass_users: Vec<String>,
    #[serde(default)]
    pub pusher_env: Option<Vec<String>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            time_budget_seconds: default_time_budget(),
            on_timeout: OnTimeout::Reject,
            audit_log: None,
            inline_allow: Default::default(),
            bypass: Default::default(),
            bypass_users: Vec::new(),
            pusher_env: None,
        }
    }
}

fn default_time_budget() -> f64 {
    4.5
}

/// The longest time budget: a day. A budget outside 0..=MAX is a config
/// error: `inf` or `1e19` overflow the hook's deadline (a panic), and `nan`
/// or a negative number would silently mean 0 (every push times out at once).
const MAX_TIME_BUDGET_SECONDS: f64 = 86_400.0;

fn budget_seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let seconds = f64::deserialize(deserializer)?;
    if (0.0..=MAX_TIME_BUDGET_SECONDS).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(serde::de::Error::custom(format!(
            "time_budget_seconds must be from 0 to {MAX_TIME_BUDGET_SECONDS} seconds, not {seconds}"
        )))
    }
}

/// What a server does with a push it could not scan in time.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    #[default]
    Reject,
    Accept,
}

impl Config {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses config text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_column(text, span.start))
                .unwrap_or((1, 1));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// `--config FILE` if given, else `.keygate.toml` in `dir` if it exists, else defaults.
    pub fn discover(explicit: Option<&Path>, dir: &Path) -> Result<Config, ConfigError> {
        if let Some(path) = explicit {
            return Config::load(path);
        }
        let candidate = dir.join(CONFIG_FILE_NAME);
        match candidate.try_exists() {
            Ok(true) => Config::load(&candidate),
            Ok(false) => Ok(Config::default()),
            Err(source) => Err(ConfigError::Unreadable {
                path: candidate,
                source,
            }),
        }
    }

    /// The path to name in errors.
    pub fn source_name(&self) -> PathBuf {
        self.source
            .clone()
            .unwrap_or_else(|| PathBuf::from("<built-in defaults>"))
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_names_line_and_column() {
        let err = Config::parse("[allowlist]\npaths = [\"a\"\n", Path::new("k.toml")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("k.toml:"), "{text}");
        assert!(
            matches!(err, ConfigError::Invalid { line: 2 | 3, .. }),
            "{text}"
        );
    }

    #[test]
    fn unknown_key_is_an_error_that_names_it() {
        let err = Config::parse("[allowlist]\npath = [\"a\"]\n", Path::new("k.toml")).unwrap_err();
        assert!(err.to_string().contains("path"), "{err}");
        assert!(matches!(err, ConfigError::Invalid { line: 2, .. }), "{err}");
    }

    #[test]
    fn wrong_type_is_an_error() {
        let err = Config::parse("[allowlist]\npaths = \"a\"\n", Path::new("k.toml")).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { line: 2, .. }), "{err}");
    }
}
