//! The text report: for people at a terminal or reading a hook's output.
//! Each finding says what, where, why, and what to do now, in words that
//! fit the moment (a commit not made yet, a rejected push, old history).

use std::io::{self, Write};

use crate::engine::rules::CredentialKind;
use crate::engine::scanner::ScanReport;

use super::{Audience, ReportOptions};

pub(super) fn write(
    out: &mut dyn Write,
    report: &ScanReport,
    options: ReportOptions,
) -> io::Result<()> {
    if report.findings.is_empty() {
        return Ok(());
    }
    let count = report.findings.len();
    let noun = if count == 1 {
        "credential"
    } else {
        "credentials"
    };
    match options.audience {
        Audience::PreCommit => writeln!(
            out,
            "keygate: commit blocked: {count} AWS {noun} in the staged changes\n"
        )?,
        Audience::CommitMsg => writeln!(
            out,
            "keygate: commit blocked: {count} AWS {noun} in the commit message\n"
        )?,
        Audience::Push => writeln!(
            out,
            "keygate: push rejected: {count} AWS {noun} in the pushed commits\n"
        )?,
        Audience::PushBypassed => writeln!(
            out,
            "keygate: push accepted by a bypass: {count} AWS {noun} in the pushed commits \
             let in and recorded\n"
        )?,
        Audience::PrePush => writeln!(
            out,
            "keygate: push stopped before anything was sent: {count} AWS {noun} in commits \
             the remote does not have\n"
        )?,
        Audience::History => writeln!(
            out,
            "keygate: {count} AWS {noun} in the repository's history\n"
        )?,
        Audience::Scan => writeln!(out, "keygate: {count} AWS {noun} found\n")?,
    }
    for finding in &report.findings {
        writeln!(
            out,
            "{}:{}:{}  {}  [{}, {} confidence]",
            finding.path,
            finding.location.line,
            finding.location.column,
            finding.rule_id,
            finding.severity,
            finding.confidence
        )?;
        if let Some(commit) = finding.origin.commit() {
            match (&commit.date, &commit.author) {
                (Some(date), Some(author)) => {
                    writeln!(out, "    commit:      {} ({date}, {author})", commit.id)?
                }
                _ => writeln!(out, "    commit:      {}", commit.id)?,
            }
        }
        if let Some(seen) = &finding.seen {
            if seen.occurrences > 1 {
                writeln!(
                    out,
                    "    seen in:     {} commits, the last {}",
                    seen.occurrences,
                    seen.last_commit.as_deref().unwrap_or("the same")
                )?;
            }
            if seen.in_tree_now {
                writeln!(
                    out,
                    "    status:      in the tree now: rotate it and remove it"
                )?
            } else {
                writeln!(
                    out,
                    "    status:      only in history: rotate it (rewriting history is optional)"
                )?
            }
        }
        let what = if options.show_secrets {
            finding.values.join(" + ")
        } else {
            finding.redacted.clone()
        };
        writeln!(out, "    found:       {} {what}", finding.kind.name())?;
        if let Some(secret) = finding.secret_location {
            writeln!(
                out,
                "    secret at:   {}:{}:{}",
                finding.path, secret.line, secret.column
            )?;
        }
        writeln!(out, "    why:         {}", finding.evidence)?;
        if let Some(account) = &finding.account_id {
            writeln!(
                out,
                "    account:     {account} (decoded from the key ID: clean up in this account)"
            )?;
        }
        writeln!(out, "    fingerprint: {}", finding.fingerprint)?;
        writeln!(out)?;
    }
    write_advice(out, report, options.audience)
}

fn write_advice(out: &mut dyn Write, report: &ScanReport, audience: Audience) -> io::Result<()> {
    let has = |kinds: &[CredentialKind]| report.findings.iter().any(|f| kinds.contains(&f.kind));
    let long_term = has(&[
        CredentialKind::AccessKeyId,
        CredentialKind::SecretAccessKey,
        CredentialKind::CredentialPair,
    ]);
    writeln!(out, "What to do now:")?;
    match audience {
        Audience::PreCommit => writeln!(
            out,
            "  1. Remove the credential from the staged file(s), then `git add` them again. Load it\n     \
             from the environment, an AWS profile outside the repository, or a secrets manager."
        )?,
        Audience::CommitMsg => writeln!(
            out,
            "  1. Remove the credential from the commit message and commit again. git kept the\n     \
             message: `git commit -e -F \"$(git rev-parse --git-path COMMIT_EDITMSG)\"`\n     \
             opens it in your editor."
        )?,
        Audience::Push | Audience::PushBypassed | Audience::PrePush => writeln!(
            out,
            "  1. Remove the credential from every commit that adds it, in a file, a commit\n     \
             message (`reword`) or a name (`git rebase -i`, or `git filter-repo` for older\n     \
             commits), then push again."
        )?,
        Audience::History => writeln!(
            out,
            "  1. Remove the credentials still in the tree now. Those only in history stay\n     \
             in every clone: rotating them is what matters; rewriting history\n     \
             (`git filter-repo`) is optional. `keygate history --write-baseline FILE`\n     \
             lets the gate start now and report only new keys."
        )?,
        Audience::Scan => writeln!(
            out,
            "  1. Remove the credential from the file(s); load it from the environment, an AWS\n     \
             profile outside the repository, or a secrets manager."
        )?,
    }
    if long_term {
        writeln!(
            out,
            "  2. Treat the key as exposed and rotate it, now, with other credentials than this key\n     \
             (<the key ID>: the full ID at the location above; add --user-name for another user):\n       \
             aws iam update-access-key --access-key-id <the key ID> --status Inactive\n       \
             aws iam create-access-key                  # the replacement, for what used the old key\n       \
             aws iam delete-access-key --access-key-id <the key ID>\n       \
             aws cloudtrail lookup-events --lookup-attributes \\\n           \
             AttributeKey=AccessKeyId,AttributeValue=<the key ID>   # was it used?"
        )?;
    } else if has(&[CredentialKind::BedrockApiKey]) {
        writeln!(
            out,
            "  2. Treat the Bedrock API key as exposed: revoke it in IAM (service-specific\n     \
             credentials of its user) and create a new one; check CloudTrail for its use."
        )?;
    } else {
        writeln!(
            out,
            "  2. Temporary credentials expire, but revoke the role's active sessions if the\n     \
             token may still be valid, and check CloudTrail for its use."
        )?;
    }
    writeln!(
        out,
        "  3. Prefer IAM roles, IAM Identity Center (SSO) and short-lived credentials over\n     \
         long-term access keys."
    )?;
    match audience {
        // What this server allows (markers, bypass) follows from `policy`.
        Audience::Push => writeln!(
            out,
            "False alarm? Ask the server's admin to add the fingerprint to the server's\n\
             [allowlist] fingerprints."
        ),
        Audience::PushBypassed => Ok(()),
        _ => writeln!(
            out,
            "False alarm? Add `keygate:allow` to the line, or its fingerprint to\n\
             [allowlist] fingerprints in .keygate.toml."
        ),
    }
}
