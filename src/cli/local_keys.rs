//! The user's own AWS keys, read from this machine only, so their exact
//! values are found in staged content whatever surrounds them.
//!
//! Sources: the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
//! `~/.aws/credentials`), the config file (`AWS_CONFIG_FILE`, else
//! `~/.aws/config`), and the `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
//! and `AWS_SESSION_TOKEN` environment variables. The values live in memory
//! for the run: never printed, never written, never sent anywhere. A missing
//! file just means there is nothing to look for; a file that is there but
//! cannot be read or parsed is a warning, since silence would look like
//! protection that is not there.
//!
//! The file is parsed as the AWS CLI reads it (Python's configparser):
//! `name = value` or `name: value`, any case, any spacing; a stray byte that
//! is not UTF-8 elsewhere in the file does not lose the keys.

use std::path::{Path, PathBuf};

/// Environment variables that hold a key.
const KEY_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// Settings in the credentials file that hold a key.
const KEY_SETTINGS: &[&str] = &[
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_security_token",
];

/// The largest credentials file read (a few profiles take a few KB).
const MAX_CREDENTIALS_BYTES: u64 = 1 << 20;

/// The user's own key values, and what could not be read.
#[derive(Debug, Default)]
pub(crate) struct OwnKeys {
    /// Deduplicated, at least 16 characters, no documentation examples.
    pub values: Vec<String>,
    /// Why some keys are not looked for (file unreadable, a setting not
    /// parsed): for stderr. Never holds a value.
    pub warnings: Vec<String>,
}

/// The local key values when the config asks for them (`[detect] own_keys`,
/// on by default), else none.
pub(crate) fn for_config(config: &crate::engine::config::Config) -> OwnKeys {
    if config.detect.own_keys {
        local_keys()
    } else {
        OwnKeys::default()
    }
}

/// Every key value found locally.
pub(crate) fn local_keys() -> OwnKeys {
    let mut keys = OwnKeys::default();
    for name in KEY_VARIABLES {
        match std::env::var(name) {
            Ok(value) => keys.values.push(value),
            Err(std::env::VarError::NotPresent) => {}
            Err(std::env::VarError::NotUnicode(_)) => keys.warnings.push(format!(
                "${name} is not UTF-8 text: its key is not looked for"
            )),
        }
    }
    for path in key_files() {
        match crate::engine::config::read_regular_file(&path, MAX_CREDENTIALS_BYTES) {
            Ok(bytes) => {
                let (values, warnings) = parse_credentials(&bytes, &path);
                keys.values.extend(values);
                keys.warnings.extend(warnings);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => keys.warnings.push(format!(
                "{}: cannot read this AWS credentials file ({e}): your own keys in it are \
                 not looked for",
                path.display()
            )),
        }
    }
    keys.values
        .retain(|v| v.len() >= 16 && !crate::engine::allowlist::is_documentation_example(v));
    keys.values.sort();
    keys.values.dedup();
    keys
}

/// The files the AWS CLI takes keys from: the shared credentials file and
/// the config file (a profile there may hold keys too).
fn key_files() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".aws"));
    [
        ("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        ("AWS_CONFIG_FILE", "config"),
    ]
    .into_iter()
    .filter_map(|(variable, name)| {
        std::env::var_os(variable)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|dir| dir.join(name)))
    })
    .collect()
}

/// The key values of an ini-style credentials file, and a warning for each
/// key setting whose value cannot be taken (`path` names the file in them).
fn parse_credentials(bytes: &[u8], path: &Path) -> (Vec<String>, Vec<String>) {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut values = Vec::new();
    let mut warnings = Vec::new();
    for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        let delimiter = line.iter().position(|&b| b == b'=' || b == b':');
        let name = delimiter.map_or(line, |at| line[..at].trim_ascii());
        let name = name.to_ascii_lowercase();
        let setting = KEY_SETTINGS.iter().find(|s| {
            match delimiter {
                Some(_) => name == s.as_bytes(),
                // `aws_secret_access_key SECRET`: a key the CLI will not
                // read either, but one the user meant to have.
                None => name.starts_with(s.as_bytes()),
            }
        });
        let Some(setting) = setting else {
            continue;
        };
        let problem = match delimiter {
            None => "has no `=` or `:` before its value",
            Some(at) => match std::str::from_utf8(line[at + 1..].trim_ascii()) {
                Ok(value) => {
                    values.extend(meant_values(value));
                    continue;
                }
                Err(_) => "has a value that is not UTF-8 text",
            },
        };
        warnings.push(format!(
            "{}:{}: `{setting}` {problem}: that key is not looked for",
            path.display(),
            number + 1
        ));
    }
    (values, warnings)
}

/// A setting's value as written, and what the user meant by it where the
/// file wraps it (quotes, a trailing comment): the CLI would take those
/// literally, but the key they hold is still the user's own.
fn meant_values(value: &str) -> Vec<String> {
    let mut meant = vec![value.to_string()];
    let unquoted = ['"', '\'']
        .iter()
        .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)));
    if let Some(inner) = unquoted {
        meant.push(inner.trim().to_string());
    }
    if let Some(first) = value.split_ascii_whitespace().next() {
        if first != value {
            meant.push(first.to_string());
        }
    }
    meant
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_file_values_are_read_by_setting_name() {
        let text = "[default]\naws_access_key_id = ID-VALUE-0123456789\n\
                    AWS_Secret_Access_Key=SECRET-VALUE-0123456789\nregion = us-east-1\n";
        let (values, warnings) = parse_credentials(text.as_bytes(), Path::new("c"));
        assert_eq!(
            values,
            vec!["ID-VALUE-0123456789", "SECRET-VALUE-0123456789"]
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn colons_bom_crlf_and_stray_bytes_are_read_as_the_cli_reads_them() {
        let mut text = "\u{feff}[default]\r\n# caf".as_bytes().to_vec();
        text.extend(b"\xe9\r\n");
        text.extend(b"\tAWS_ACCESS_KEY_ID\t:\tID-VALUE-0123456789\r\n");
        text.extend(b"aws_secret_access_key:SECRET-VALUE-0123456789\n");
        text.extend(b"[other]\naws_session_token =  TOKEN-VALUE-0123456789  \n");
        text.extend(b"aws_access_key_id = \"QUOTED-VALUE-0123456789\"\n");
        text.extend(b"aws_secret_access_key = COMMENTED-VALUE-0123456789 # prod\n");
        let (values, warnings) = parse_credentials(&text, Path::new("c"));
        assert_eq!(
            values,
            vec![
                "ID-VALUE-0123456789",
                "SECRET-VALUE-0123456789",
                "TOKEN-VALUE-0123456789",
                "\"QUOTED-VALUE-0123456789\"",
                "QUOTED-VALUE-0123456789",
                "COMMENTED-VALUE-0123456789 # prod",
                "COMMENTED-VALUE-0123456789",
            ]
        );
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn key_settings_that_cannot_be_read_are_warnings_that_name_the_line_not_the_value() {
        let mut text = b"[default]\naws_access_key_id ID-VALUE-0123456789\n".to_vec();
        text.extend(b"aws_secret_access_key = SECRET-\xff-0123456789\n");
        let (values, warnings) = parse_credentials(&text, Path::new("creds"));
        assert!(values.is_empty(), "{values:?}");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("creds:2: `aws_access_key_id`"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].starts_with("creds:3: `aws_secret_access_key`"),
            "{warnings:?}"
        );
        assert!(
            warnings.iter().all(|w| !w.contains("0123456789")),
            "{warnings:?}"
        );
    }
}
