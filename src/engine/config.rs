//! Reads `.keygate.toml`.
//!
//! A typo in an allowlist must never silently allow nothing or everything, so
//! unknown keys are errors and every error names the file and, for syntax,
//! the line and column. This module only parses and validates; applying the
//! allowlist is `allowlist`'s job.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file name looked up at the repository root (or the current directory for `scan`).
pub(crate) const CONFIG_FILE_NAME: &str = ".keygate.toml";

/// Why a config cannot be used. Each names the file and what in it is wrong:
/// a run stops (exit 2) rather than scan with less than the config says.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read config: {source}")]
    Unreadable {
        /// The config file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key, or a value of the wrong type or range.
    #[error("{path}:{line}:{column}: invalid config: {message}")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the TOML parser said.
        message: String,
    },
    /// An `[allowlist] regexes` entry does not compile.
    #[error("{path}: allowlist.regexes[{index}]: invalid regex: {message}")]
    RegexInvalid {
        /// The config file.
        path: PathBuf,
        /// The entry's position in the list, from 0.
        index: usize,
        /// What the regex compiler said.
        message: String,
    },
    /// A `[[rules]]` entry cannot be used: its regex, keywords or limits are
    /// wrong, or it misses one of its `examples` or finds one of its `negatives`.
    #[error("{path}: rules[{index}] `{id}`: {problem}")]
    RuleInvalid {
        /// The config file.
        path: PathBuf,
        /// The rule's position among the `[[rules]]`, from 0.
        index: usize,
        /// The rule's `id`.
        id: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The `[allowlist] baseline` file could not be read.
    #[error("{path}: allowlist.baseline: cannot read {baseline}: {source}")]
    BaselineUnreadable {
        /// The config file.
        path: PathBuf,
        /// The baseline, as resolved against the config file's directory.
        baseline: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// `[detect] disable` names a rule keygate does not have: a typo would
    /// otherwise leave the rule running unnoticed.
    #[error("{path}: detect.disable: no built-in rule `{id}`")]
    DisabledRuleUnknown {
        /// The config file.
        path: PathBuf,
        /// The id as written.
        id: String,
    },
    /// An allowlist list is over its limit of entries or bytes, or compiles too large.
    #[error("{path}: {list}: {problem}")]
    ListTooLarge {
        /// The config file.
        path: PathBuf,
        /// Which list: `allowlist.paths` or `allowlist.regexes`.
        list: &'static str,
        /// Which limit, and by how much.
        problem: String,
    },
    /// More `[[rules]]` than keygate compiles on every run.
    #[error("{path}: rules: {count} custom rules, over the limit of {limit}")]
    TooManyRules {
        /// The config file.
        path: PathBuf,
        /// How many rules the file has.
        count: usize,
        /// The most it may have.
        limit: usize,
    },
    /// An `[allowlist] paths` entry is not a valid glob.
    #[error("{path}: allowlist.paths[{index}]: invalid glob: {message}")]
    GlobInvalid {
        /// The config file.
        path: PathBuf,
        /// The entry's position in the list, from 0.
        index: usize,
        /// What the glob parser said.
        message: String,
    },
}

/// The largest config file keygate reads: a config is a page of settings;
/// anything bigger is a mistake or an attack on every commit's time.
pub(crate) const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// The largest baseline file: some 400,000 fingerprints.
pub(crate) const MAX_BASELINE_BYTES: u64 = 32 << 20;
/// At most this many `[[rules]]`: each is its own compiled regex.
pub(crate) const MAX_CUSTOM_RULES: usize = 64;

/// Reads a file that must be a regular file of at most `limit` bytes (after
/// following symlinks: a link to a regular file is fine). A FIFO would hang
/// the commit and `/dev/zero` would fill memory, so anything else is
/// refused before a byte is read, and the read stops past `limit` even if
/// the file grows meanwhile.
pub(crate) fn read_regular_file(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Opening a FIFO for reading blocks until a writer comes: never wait.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        // `--config /dev/null`, the usual way to say "no config": empty,
        // and it can neither hang nor grow.
        if std::fs::canonicalize(path).is_ok_and(|p| p == Path::new("/dev/null")) {
            return Ok(Vec::new());
        }
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a directory, FIFO, socket or device): refused",
        ));
    }
    let too_large = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {} limit: refused", human_size(limit)),
        )
    };
    if metadata.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// `1 MiB`, `32 MiB`, `512 KiB`.
fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[allowlist]`: what is not reported.
    #[serde(default)]
    pub allowlist: AllowlistConfig,
    /// `[server]`: the pre-receive hook's time budget and push policy.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[detect]`: which built-in rules run.
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
    /// Look for the exact values of the user's own keys (`~/.aws/credentials`
    /// or `AWS_SHARED_CREDENTIALS_FILE`, `~/.aws/config` or `AWS_CONFIG_FILE`,
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`).
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
    /// Names the rule in reports and fingerprints.
    pub id: String,
    /// One sentence: why a match is a credential (printed as the evidence).
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
    /// `inline_allow`: whether `keygate:allow` markers in pushed content count.
    #[serde(default)]
    pub inline_allow: InlineAllow,
    /// `bypass`: whether a push option with a reason lets a push in.
    #[serde(default)]
    pub bypass: Bypass,
    /// `bypass_users`: who may bypass (empty: anyone).
    #[serde(default)]
    pub bypass_users: Vec<String>,
    /// `pusher_env`: the environment variables that name the pusher, first set wins
    /// (`None`: the defaults).
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

/// `[server] inline_allow`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InlineAllow {
    /// Markers are honoured, shown to the pusher and logged.
    #[default]
    Record,
    /// Markers in pushed content have no effect.
    Ignore,
}

/// `[server] bypass`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Bypass {
    /// `git push -o keygate.bypass="<reason>"` lets a push in, logged.
    #[default]
    Reason,
    /// No bypass.
    Off,
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
    /// The push is rejected: a scan that did not finish is not a clean one.
    #[default]
    Reject,
    /// The push is let in if nothing was found in what was read, and logged.
    Accept,
}

impl Config {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let unreadable = |source| ConfigError::Unreadable {
            path: path.to_path_buf(),
            source,
        };
        let bytes = read_regular_file(path, MAX_CONFIG_BYTES).map_err(unreadable)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            unreadable(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not UTF-8 text",
            ))
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
    pub(crate) fn discover(explicit: Option<&Path>, dir: &Path) -> Result<Config, ConfigError> {
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

    /// Settings that are legal but turn the gate off, in words: said on
    /// every run so that nobody ships one by accident. (The allowlist's own
    /// are in `Allowlist::warnings`.)
    pub(crate) fn warnings(&self) -> Vec<String> {
        let off = |id: &str| self.detect.disable.iter().any(|d| d == id);
        let source = self.source_name();
        let source = source.display();
        if crate::engine::rules::RULES.iter().all(|r| off(r.id)) {
            vec![format!(
                "{source}: detect.disable turns off every built-in rule: no AWS key is looked for{}",
                if self.rules.is_empty() {
                    ""
                } else {
                    " (only the custom [[rules]] run)"
                }
            )]
        } else if off("aws-access-key-id") && off("aws-secret-access-key") {
            vec![format!(
                "{source}: detect.disable turns off aws-access-key-id and aws-secret-access-key: \
                 no AWS access key is looked for"
            )]
        } else {
            Vec::new()
        }
    }

    /// The file `allowlist.baseline` names: relative to the config file's
    /// directory.
    pub(crate) fn baseline_path(&self) -> Option<PathBuf> {
        let baseline = self.allowlist.baseline.as_ref()?;
        Some(match self.source_name().parent() {
            Some(dir) if baseline.is_relative() => dir.join(baseline),
            _ => baseline.clone(),
        })
    }

    /// The path to name in errors.
    pub(crate) fn source_name(&self) -> PathBuf {
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
