//! The user's own AWS keys, read from this machine only, so their exact
//! values are found in staged content whatever surrounds them.
//!
//! Sources: the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
//! `~/.aws/credentials`) and the `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
//! and `AWS_SESSION_TOKEN` environment variables. The values live in memory
//! for the run: never printed, never written, never sent anywhere. A missing
//! or unreadable file just means there is nothing to look for.

use std::path::PathBuf;

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

/// The local key values when the config asks for them (`[detect] own_keys`,
/// on by default), else none.
pub fn for_config(config: &crate::config::Config) -> Vec<String> {
    if config.detect.own_keys {
        local_key_values()
    } else {
        Vec::new()
    }
}

/// Every key value found locally (deduplicated, at least 16 characters).
pub fn local_key_values() -> Vec<String> {
    let mut values: Vec<String> = KEY_VARIABLES
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .collect();
    if let Some(path) = credentials_file() {
        if let Ok(text) = std::fs::read_to_string(path) {
            values.extend(parse_credentials(&text));
        }
    }
    values.retain(|v| v.len() >= 16 && !crate::allowlist::is_documentation_example(v));
    values.sort();
    values.dedup();
    values
}

fn credentials_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".aws").join("credentials"))
}

/// The key values of an ini-style credentials file.
fn parse_credentials(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.split_once('=')?;
            let name = name.trim().to_ascii_lowercase();
            KEY_SETTINGS
                .contains(&name.as_str())
                .then(|| value.trim().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_file_values_are_read_by_setting_name() {
        let text = "[default]\naws_access_key_id = ID-VALUE-0123456789\n\
                    AWS_Secret_Access_Key=SECRET-VALUE-0123456789\nregion = us-east-1\n";
        assert_eq!(
            parse_credentials(text),
            vec!["ID-VALUE-0123456789", "SECRET-VALUE-0123456789"]
        );
    }
}
