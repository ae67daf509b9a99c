//! The built-in detectors, as data.
//!
//! Every rule carries its id, what it finds, the literals the prefilter looks
//! for, the pattern that confirms a candidate, and examples that must and must
//! not be found. The tests in this module prove each rule against its own
//! examples, so a change to a pattern that breaks a real format fails the
//! build instead of letting a key through.
//!
//! This module holds no logic beyond the table: how a rule is applied lives in
//! `detect`.

/// What kind of AWS credential a rule finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CredentialKind {
    /// `AKIA…`/`ASIA…` access key ID: on its own, evidence that a key pair leaked.
    AccessKeyId,
    /// The 40-character secret access key.
    SecretAccessKey,
    /// An STS session token (temporary credentials).
    SessionToken,
    /// An access key ID and its secret found together: a usable credential.
    CredentialPair,
    /// An Amazon Bedrock API key (long-term `ABSK…` or short-lived `bedrock-api-key-…`).
    BedrockApiKey,
    /// The exact value of one of the user's own keys (from `~/.aws/credentials`
    /// or the environment), whatever surrounds it.
    KnownKey,
    /// A match of a custom rule from `.keygate.toml`.
    Custom,
    /// A file that by its name holds AWS credentials (`.aws/credentials`, IAM
    /// console CSV downloads, `.boto`, `.s3cfg`).
    CredentialFile,
}

impl CredentialKind {
    /// Short lowercase name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            CredentialKind::AccessKeyId => "access key ID",
            CredentialKind::SecretAccessKey => "secret access key",
            CredentialKind::SessionToken => "session token",
            CredentialKind::CredentialPair => "access key ID and secret access key",
            CredentialKind::BedrockApiKey => "Amazon Bedrock API key",
            CredentialKind::KnownKey => "one of your own AWS keys",
            CredentialKind::Custom => "custom rule match",
            CredentialKind::CredentialFile => "AWS credentials file",
        }
    }

    /// Stable snake_case name for JSON and SARIF.
    pub fn key(self) -> &'static str {
        match self {
            CredentialKind::AccessKeyId => "access_key_id",
            CredentialKind::SecretAccessKey => "secret_access_key",
            CredentialKind::SessionToken => "session_token",
            CredentialKind::CredentialPair => "credential_pair",
            CredentialKind::BedrockApiKey => "bedrock_api_key",
            CredentialKind::KnownKey => "known_key",
            CredentialKind::Custom => "custom",
            CredentialKind::CredentialFile => "credential_file",
        }
    }
}

/// How a rule's pattern is used once the prefilter has found one of its literals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// The pattern's `value` group is the credential itself (key IDs, tokens by prefix).
    Value,
    /// The pattern matches `name … value`; the value counts only if the name
    /// is an AWS secret keyword (or, for a generic name, AWS is mentioned nearby).
    Assignment,
    /// The match is the evidence: an exact known value, or a custom rule
    /// (checked only by its own entropy floor).
    Exact,
}

/// One built-in detector.
#[derive(Debug)]
pub struct Rule {
    /// Stable id, used in reports, fingerprints and `disable`.
    pub id: &'static str,
    /// What kind of credential it finds.
    pub kind: CredentialKind,
    /// One sentence: why a match is a credential.
    pub description: &'static str,
    /// Prefilter literals. A region of input without one of them never
    /// reaches this rule's pattern. For `Assignment` rules (keywords) the
    /// usual spellings are matched too: lower, UPPER and Capitalized.
    pub literals: &'static [&'static str],
    /// Regex (bytes, no lookaround). The group named `value` is the credential.
    pub pattern: &'static str,
    /// How the pattern is used once a literal is found.
    pub confirmation: Confirmation,
    /// Characters that may not touch the value on either side: a value inside
    /// a longer run of these is part of something else (a hash, a base64 blob).
    pub boundary: Boundary,
    /// Inputs in which this rule must find exactly one credential.
    pub examples: &'static [&'static str],
    /// Inputs in which this rule must find nothing.
    pub negatives: &'static [&'static str],
}

/// Character classes used for value boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boundary {
    /// `A-Z a-z 0-9`
    Alphanumeric,
    /// `A-Z a-z 0-9 + /` (and `=` after the value, base64 padding)
    Base64,
}

impl Boundary {
    /// Whether `b` would extend a value of this class.
    pub(crate) fn continues(self, b: u8) -> bool {
        match self {
            Boundary::Alphanumeric => b.is_ascii_alphanumeric(),
            Boundary::Base64 => b.is_ascii_alphanumeric() || b == b'+' || b == b'/',
        }
    }
}

/// Id of the finding that joins an access key ID with its secret.
pub(crate) const PAIR_RULE_ID: &str = "aws-credential-pair";

/// How many lines apart an access key ID and a secret may be and still count
/// as one credential (IAM console CSV, `.env`, ini and JSON all keep them within this).
pub(crate) const PAIR_DISTANCE_LINES: usize = 4;

/// The built-in rules.
pub(crate) const RULES: &[Rule] = &[
    Rule {
        id: "aws-access-key-id",
        kind: CredentialKind::AccessKeyId,
        description: "AWS access key ID: a credential prefix (AKIA long-term, ASIA temporary, \
                      ABIA, ACCA, A3T) and 16 base32 characters",
        literals: &["AKIA", "ASIA", "ABIA", "ACCA", "A3T"],
        pattern: r"(?-i)(?P<value>(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16})",
        confirmation: Confirmation::Value,
        boundary: Boundary::Alphanumeric,
        examples: &[
            "aws_access_key_id = AKIAQYLPMN5HHHFPZAM2",
            "AWS_ACCESS_KEY_ID=ASIAY34FZKBOKMUTVV7A",
            r#"{"AccessKeyId": "AKIA6ODU5DHT7VPXGCE4"}"#,
            "key: 'ABIAZ4QRL2K5WXHY3NJC'",
            "ACCAJ7QKZ2RLMX4PYWVH,",
            "url = s3://AKIAQYLPMN5HHHFPZAM2@bucket",
            "AWS_KEY_AKIAQYLPMN5HHHFPZAM2",
            "AKIAQYLPMN5HHHFPZAM2\r\n",
        ],
        negatives: &[
            // Too short, too long, wrong alphabet.
            "AKIAQYLPMN5HHHFPZAM",
            "AKIAQYLPMN5HHHFPZAM2X",
            "xAKIAQYLPMN5HHHFPZAM2",
            "AKIA0YLPMN5HHHFPZAM1",
            "akiaqylpmn5hhhfpzam2",
            // Not credentials: users, roles, policies, account ids, ARNs.
            "AIDAJQABLZS4A3QDU576Q",
            "AROAQYLPMN5HHHFPZAM2",
            "ANPAQYLPMN5HHHFPZAM2",
            "arn:aws:iam::123456789012:user/deploy",
            // Upper-case prose.
            "TODAYINASIAASACKOFRICEFELLOVER",
            // Placeholders.
            "key = AKIAXXXXXXXXXXXXXXXX",
            "AKIAABCDEFGHIJKLMNOP",
        ],
    },
    Rule {
        id: "aws-secret-access-key",
        kind: CredentialKind::SecretAccessKey,
        description: "AWS secret access key: 40 base64 characters assigned to an AWS secret \
                      keyword",
        literals: &["secret"],
        // `name`: the identifier holding "secret", with the words `access`
        // and `key` after it when they are spelled apart (`AWS Secret Access
        // Key`, the console's and the docs' label). Then the glue: up to 16
        // characters (quotes, `=`, `:`, `=>`, `,`, `>`, `(`, `|`, escapes)
        // between any runs of spaces and tabs (column-aligned files), at
        // most one line break, the XML attributes that sit between a .NET
        // setting's name and its value (`serializeAs="String">`, `value=`);
        // then the value. Every part is a bounded or single-class repetition
        // on a window of at most a few KB: the regex crate runs it in linear
        // time.
        pattern: r#"(?i)(?P<name>[a-z0-9_.\-]*secret[a-z0-9_.\-]*(?:[ \t]+(?:access|key)[a-z0-9_.\-]*){0,2})[ \t]*[^a-z0-9+/\n]{0,16}[ \t]*(?:serializeas[^a-z0-9+/\n]{1,4}string[^a-z0-9+/\n]{0,4})?(?:\n[ \t]*[^a-z0-9+/\n]{0,16}[ \t]*)?(?:value[^a-z0-9+/\n]{1,4})?(?P<value>[a-z0-9+/]{40})"#,
        confirmation: Confirmation::Assignment,
        boundary: Boundary::Base64,
        examples: &[
            "aws_secret_access_key = Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            "AWS_SECRET_ACCESS_KEY=Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            "export AWS_SECRET_ACCESS_KEY=\"Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu\"",
            r#""SecretAccessKey": "Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu","#,
            "secret_key: Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            r#"  secret_key = "Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu""#,
            "aws.secretKey=Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            r#"os.environ["AWS_SECRET_ACCESS_KEY"] = "Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu""#,
            r#"System.setProperty("aws.secretKey", "Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu");"#,
            "<SecretAccessKey>Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu</SecretAccessKey>",
            "ENV AWS_SECRET_ACCESS_KEY Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            "aws_secret: '3lyTWqHMt5UySny2drdPYheRTEzrNux8Cn5JWFHL'",
            r#"\"awsSecretKey\":\"3lyTWqHMt5UySny2drdPYheRTEzrNux8Cn5JWFHL\","#,
            "aws_secret_access_key:\n  Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu\n",
            "aws_secret_access_key = Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu\r\n",
            "--aws-secret-access-key=Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            "s3 {\n  secret = \"Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu\" # aws\n}",
            // The console's and the docs' label, as text, JSON and a table.
            "AWS Secret Access Key: Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            "Secret access key: Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            r#"{"AWS Secret Access Key": "Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu"}"#,
            "| AWS Secret Access Key | Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu |",
            "| `AWS_SECRET_ACCESS_KEY` | `Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu` |",
            "**AWS Secret Access Key:**\n`Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu`",
            "aws secret access key:\n    Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            "AWS Secret Key = Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            // Column-aligned ini, env and properties files, spaces or tabs.
            "aws_secret_access_key =                                  Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            "aws_secret_access_key                      = Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            "aws_secret_access_key                      =                     Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            "aws_secret_access_key\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t= Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            "AWS_SECRET_ACCESS_KEY:\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\tZr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            // .NET app.config / web.config and settings files.
            r#"<add key="AWSSecretKey" value="Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu"/>"#,
            r#"<add key="AWSSecretKey"   value="Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu" />"#,
            r#"<add name="aws.secretKey" value="Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu"/>"#,
            r#"<add key='AWS_SECRET_ACCESS_KEY' value='Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu'/>"#,
            "<setting name=\"AWSSecretKey\" serializeAs=\"String\">\n  <value>Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu</value>",
            // Words joined every way.
            "secret-access-key: Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            "secretAccessKey = \"Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu\"",
            "SecretKey=Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            "AWS.Secret.Access.Key=Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            "[aws]\nsecret_access_key = Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
        ],
        negatives: &[
            // The documentation example.
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            // Hex digests, git object ids.
            "secret_key = 356a192b7913b04c54574d18c28d46e6395428ab",
            "SECRET_KEY = 356A192B7913B04C54574D18C28D46E6395428AB",
            // Part of a longer base64 run.
            "aws_secret_access_key = Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTuAB",
            // Placeholders, low entropy, sequences.
            "aws_secret_access_key = XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "aws_secret_access_key = ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
            "aws_secret_access_key = your_secret_here",
            "aws_secret_access_key = <your secret access key>",
            "aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}",
            "aws_secret_access_key = AaBbCcDdEeFfGgHhIiJjKkLlMmNnOoPpQqRrSsTt",
            "aws_secret_access_key = ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn",
            "aws_secret_access_key = abcdabcdabcdabcdabcdabcdabcdabcdabcdabcd",
            // A generic "secret" with no AWS context is somebody else's secret.
            "client_secret = Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            // Prose.
            "The secret access key is shown once, when you create the key.",
            // A path is not a key.
            "secret_key_file = src/main/java/com/example/deploy/Secrets1",
            // Near misses of the spellings above: somebody else's secret...
            r#"<add key="ClientSecret" value="Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu"/>"#,
            "| Client Secret | Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu |",
            // ...words that are not part of the label...
            "my secret santa list: Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            "AWS Secret Access Key (rotated monthly): Zr4nK2pQ9sVw7xYb3cDe5fGh1jKl6mNo8pQr0sTu",
            // ...placeholders, digests and the docs' example, aligned.
            "aws_secret_access_key =                              <your secret access key>",
            "aws_secret_access_key =                              356a192b7913b04c54574d18c28d46e6395428ab",
            "| AWS Secret Access Key | wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY |",
            r#"<add key="AWSSecretKey" value=""/>"#,
            r#"<add key="AWSSecretKey" value="YOUR_SECRET_ACCESS_KEY_GOES_HERE_PLEASE"/>"#,
        ],
    },
    Rule {
        id: "aws-session-token",
        kind: CredentialKind::SessionToken,
        description: "AWS STS session token: a long base64 value with the STS token header \
                      (FwoGZXIvYXdz…, IQoJb3JpZ2luX2Vj…)",
        literals: &["ZXIvYXdz", "b3JpZ2luX2Vj", "QoDYXdz"],
        pattern: r"(?-i)(?P<value>(?:[A-Za-z0-9+/]{4}(?:ZXIvYXdz|b3JpZ2luX2Vj)|[A-Z]QoDYXdz)[A-Za-z0-9+/]{80,}={0,2})",
        confirmation: Confirmation::Value,
        boundary: Boundary::Base64,
        examples: &[
            "aws_session_token = FwoGZXIvYXdzEJr//////////wEaDHp5ZkVxN3Vqb2RnYSKGAXqTn8mJmGjV1l6C2eYQk8Ko0hZ3vXw4yLpTq7sBn2cRd9fGh5jK1mNo3pQr7sTu4vWx6yZa8bCd0eFg2hIj4kLm6nOp8qRs0tUv2wXy4zAb6cDe8fGh0iJk2lMn4oPq6rSt8uVw0xYz2AbC4dEf6gHi8jKl",
            "AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEHYaCXVzLWVhc3QtMSJHMEUCIQDk3pQr7sTu4vWx6yZa8bCd0eFg2hIj4kLm6nOp8qRs0tUv2wXy4zAb6cDe8fGh0iJk2lMn4oPq6rSt8uVw0xYz2AbC4dEf6gHi8jKlMnOp",
        ],
        negatives: &[
            "FwoGZXIvYXdzEJr",
            "aws_session_token = <paste token here>",
            "xFwoGZXIvYXdzEJr//////////wEaDHp5ZkVxN3Vqb2RnYSKGAXqTn8mJmGjV1l6C2eYQk8Ko0hZ3vXw4yLpTq7sBn2cRd9fGh5jK1mNo3pQr7sTu4vWx6yZa8bCd0eFg2hIj4kLm6nOp8qRs0tUv2wXy4zAb6cDe8fGh0iJk2lMn4oPq6rSt8uVw0xYz2AbC4dEf6gHi8jKl",
        ],
    },
    Rule {
        id: "aws-session-token-assignment",
        kind: CredentialKind::SessionToken,
        description: "AWS session token: a long token assigned to aws_session_token, \
                      SessionToken or aws_security_token",
        literals: &[
            "session_token",
            "session-token",
            "sessiontoken",
            "SessionToken",
            "sessionToken",
            "security_token",
            "securitytoken",
            "SecurityToken",
            "securityToken",
        ],
        pattern: r#"(?i)(?P<name>[a-z0-9_.\-]*(?:session|security)[_.\-]?token[a-z0-9_.\-]*)[^a-z0-9+/\n]{0,16}(?P<value>[a-z0-9+/._\-]{100,}={0,2})"#,
        confirmation: Confirmation::Assignment,
        boundary: Boundary::Base64,
        examples: &[
            "aws_session_token = eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJhY2Nlc3NLZXkiOiJJMDhCQ1gySkpWNDVFRDFET0M5SiIsImFjciI6IjAiLCJhdWQiOiJhY2NvdW50In0.J-a9PORJToz7MUrnPQlOywcqtVMNkXy53Gedp_V4PW",
        ],
        negatives: &[
            "aws_session_token = ${AWS_SESSION_TOKEN}",
            "aws_session_token = XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "session_token: short",
        ],
    },
    Rule {
        id: "aws-bedrock-api-key",
        kind: CredentialKind::BedrockApiKey,
        description: "Amazon Bedrock long-term API key: `ABSK` and the base64 of \
                      `BedrockAPIKey-`",
        literals: &["ABSKQmVkcm9ja0FQSUtleS"],
        pattern: r"(?-i)(?P<value>ABSKQmVkcm9ja0FQSUtleS[A-Za-z0-9+/]{24,}={0,2})",
        confirmation: Confirmation::Value,
        boundary: Boundary::Base64,
        examples: &[
            "BEDROCK_KEY=ABSKQmVkcm9ja0FQSUtleS1GU9MjAyNTEyMDVUMjE1MTUxWiZYLUFtei1FeHBpcmVzPTQzMjAw",
        ],
        negatives: &[
            "ABSKQmVkcm9ja0FQSUtleS1EXAMPLE",
            "ABSKQmVkcm9ja0FQSUtleS1EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE=",
            "AXSKQmVkcm9ja0FQSUtleS1GU9MjAyNTEyMDVUMjE1MTUxWiZYLUFtei1FeHBpcmVzPTQzMjAw",
        ],
    },
    Rule {
        id: "aws-bedrock-short-lived-api-key",
        kind: CredentialKind::BedrockApiKey,
        description: "Amazon Bedrock short-lived API key: `bedrock-api-key-` and a presigned \
                      bedrock.amazonaws.com request",
        literals: &["bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t"],
        pattern: r"(?-i)(?P<value>bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/]{64,}={0,2})",
        confirmation: Confirmation::Value,
        boundary: Boundary::Base64,
        examples: &[
            "AWS_BEARER_TOKEN_BEDROCK=bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29tLz9BY3Rpb249Q2FsbFdpdGhCZWFyZXJUb2tlbiZYLUFtei1BbGdvcml0aG09QVdTNC1ITUFDLVNIQTI1NiZYLUFtei1DcmVkZW50aWFsPUFTSUFZMzRGWktCT0tNVVRWVjdB",
        ],
        negatives: &[
            // The bare prefix, as in documentation: no request, no credential.
            "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t",
            "bedrock-api-key-",
        ],
    },
];

/// Access key IDs and secrets that AWS publishes in its documentation. They
/// are in countless tutorials and never grant access, so they never block.
pub(crate) const DOCUMENTATION_EXAMPLES: &[&str] = &[
    "AKIAIOSFODNN7EXAMPLE",
    "ASIAIOSFODNN7EXAMPLE",
    "AKIAI44QH8DHBEXAMPLE",
    "AKIAIOSFODNN7EXAMPLEKEY",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::detect::Detector;

    #[test]
    fn rule_ids_are_unique() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.push(PAIR_RULE_ID);
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count);
    }

    /// Every rule finds each of its examples (as its own finding) and nothing
    /// in its negatives, run through the whole detector.
    #[test]
    fn every_rule_finds_its_examples_and_ignores_its_negatives() {
        let detector = Detector::builtin();
        let mut failures = Vec::new();
        for rule in RULES {
            for example in rule.examples {
                let found = detector.detect(example.as_bytes());
                if found.len() != 1 || found[0].rule_id != rule.id {
                    failures.push(format!("{}: example {example:?} gave {found:?}", rule.id));
                }
            }
            for negative in rule.negatives {
                let found = detector.detect(negative.as_bytes());
                let allowed = found
                    .iter()
                    .all(|d| crate::engine::allowlist::is_documentation_example(&d.value));
                if !allowed {
                    failures.push(format!("{}: negative {negative:?} gave {found:?}", rule.id));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
