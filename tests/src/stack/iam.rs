//! The functions' roles as the expanded template grants them, and the checks both ways:
//! every recorded AWS request against its function's role (actions and resources by
//! IAM's wildcard rules, and the `dynamodb:LeadingKeys` conditions the template uses),
//! and every write a role grants against the requests its function made.

use super::recorder::Call;
use serde_json::Value;

/// One `Allow` statement, resolved.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Its `Sid`, for messages.
    pub sid: String,
    /// Actions (`dynamodb:GetItem`, `kms:*`).
    pub actions: Vec<String>,
    /// Resource ARNs (wildcards allowed).
    pub resources: Vec<String>,
    /// `ForAllValues:StringLike` on `dynamodb:LeadingKeys`, when present.
    pub leading_keys: Option<Vec<String>>,
    /// Granted for Lambda's own use of the role (logs, an on-failure destination), not
    /// for the function's code.
    pub lambdas_own: bool,
}

/// What managed policies the translator attaches grant, as far as a function's own code
/// goes: logging only (the SQS poller's rights belong to the event source mapping).
const MANAGED: [(&str, &[&str]); 2] = [
    ("AWSLambdaBasicExecutionRole", &["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]),
    ("AWSLambdaSQSQueueExecutionRole", &[]),
];

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
        _ => vec![],
    }
}

/// A role's statements from its resolved `AWS::IAM::Role` properties.
pub fn statements(role: &Value) -> anyhow::Result<Vec<Statement>> {
    let mut out = Vec::new();
    for p in role["Policies"].as_array().into_iter().flatten() {
        let policy = p["PolicyName"].as_str().unwrap_or_default();
        // SAM's policy for an EventInvokeConfig destination: Lambda sends there itself.
        let lambdas_own = policy.contains("EventInvokeConfig");
        for s in p["PolicyDocument"]["Statement"].as_array().into_iter().flatten() {
            anyhow::ensure!(s["Effect"] == "Allow", "only Allow statements are expected: {s}");
            let keys = &s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
            out.push(Statement {
                sid: s["Sid"].as_str().unwrap_or(policy).to_owned(),
                actions: strings(&s["Action"]),
                resources: strings(&s["Resource"]),
                leading_keys: (!keys.is_null()).then(|| strings(keys)),
                lambdas_own,
            });
        }
    }
    for arn in strings(&role["ManagedPolicyArns"]) {
        let name = arn.rsplit('/').next().unwrap_or_default();
        let Some((_, actions)) = MANAGED.iter().find(|(n, _)| *n == name) else {
            anyhow::bail!("managed policy {arn} is not known to the check");
        };
        let actions = actions.iter().map(|a| (*a).to_owned()).collect();
        out.push(Statement {
            sid: name.to_owned(),
            actions,
            resources: vec!["*".into()],
            leading_keys: None,
            lambdas_own: true,
        });
    }
    Ok(out)
}

/// IAM's `StringLike`: `*` any run, `?` any one character; actions compare case-insensitively.
pub fn like(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

impl Statement {
    /// Whether this statement allows `call`.
    pub fn allows(&self, call: &Call) -> bool {
        let action = call.action.to_ascii_lowercase();
        self.actions.iter().any(|a| like(&a.to_ascii_lowercase(), &action))
            && self.resources.iter().any(|r| like(r, &call.resource))
            && self
                .leading_keys
                .as_ref()
                .is_none_or(|pats| call.leading_keys.iter().all(|k| pats.iter().any(|p| like(p, k))))
    }
}

/// Whether `action` changes something. Reads a role may keep for paths a run does not
/// take (a cache miss, a conflict); a write nobody makes is a grant too many.
pub fn is_write(action: &str) -> bool {
    const READS: [&str; 8] = ["Get", "List", "Describe", "Query", "Scan", "BatchGet", "Decrypt", "Receive"];
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    !READS.iter().any(|r| name.starts_with(r))
}

/// The writes the role's own statements grant that no call made: `sid: action on
/// resource`, one per action and resource never used. What is granted for Lambda's own
/// use is left out.
pub fn unused_writes(statements: &[Statement], calls: &[Call]) -> Vec<String> {
    let mut out = Vec::new();
    for s in statements.iter().filter(|s| !s.lambdas_own) {
        for action in s.actions.iter().filter(|a| is_write(a)) {
            let action_lc = action.to_ascii_lowercase();
            for resource in &s.resources {
                let used = calls
                    .iter()
                    .any(|c| like(&action_lc, &c.action.to_ascii_lowercase()) && like(resource, &c.resource));
                if !used {
                    out.push(format!("{}: {action} on {resource}", s.sid));
                }
            }
        }
    }
    out
}

/// The calls no statement allows.
pub fn denied<'a>(statements: &[Statement], calls: &'a [Call]) -> Vec<&'a Call> {
    calls.iter().filter(|c| !statements.iter().any(|s| s.allows(c))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(action: &str, resource: &str, keys: &[&str]) -> Call {
        Call {
            action: action.into(),
            resource: resource.into(),
            leading_keys: keys.iter().map(|k| (*k).into()).collect(),
        }
    }

    #[test]
    fn actions_resources_and_leading_keys_are_matched_as_iam_does() {
        let s = Statement {
            sid: "Endpoints".into(),
            actions: vec!["dynamodb:GetItem".into(), "dynamodb:PutItem".into()],
            resources: vec!["arn:aws:dynamodb:us-east-1:1:table/subs".into()],
            leading_keys: Some(vec!["EP#*".into()]),
            lambdas_own: false,
        };
        assert!(s.allows(&call("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:1:table/subs", &["EP#ep_1"])));
        assert!(!s.allows(&call("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:1:table/subs", &["ORG#o"])));
        assert!(!s.allows(&call("dynamodb:DeleteItem", "arn:aws:dynamodb:us-east-1:1:table/subs", &["EP#e"])));
        assert!(!s.allows(&call("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/subs/index/gsi1", &[])));
        let any = Statement {
            sid: "x".into(),
            actions: vec!["kms:*".into()],
            resources: vec!["*".into()],
            leading_keys: None,
            lambdas_own: false,
        };
        assert!(any.allows(&call("kms:Decrypt", "arn:aws:kms:us-east-1:1:key/k", &[])));
        assert!(like("arn:aws:scheduler:*:1:schedule/g/*", "arn:aws:scheduler:us-east-1:1:schedule/g/x"));
        assert!(!like("arn:aws:scheduler:*:1:schedule/g/*", "arn:aws:scheduler:us-east-1:1:schedule/other/x"));
    }

    #[test]
    fn a_granted_write_never_made_is_reported_and_reads_are_not() {
        let q = |n: &str| format!("arn:aws:sqs:us-east-1:1:{n}");
        let statements = vec![
            Statement {
                sid: "Route".into(),
                actions: vec!["sqs:SendMessage".into()],
                resources: vec![q("urgent"), q("regular")],
                leading_keys: None,
                lambdas_own: false,
            },
            Statement {
                sid: "Read".into(),
                actions: vec!["dynamodb:GetItem".into(), "dynamodb:Query".into(), "kms:Decrypt".into()],
                resources: vec!["*".into()],
                leading_keys: None,
                lambdas_own: false,
            },
            Statement {
                sid: "AWSLambdaBasicExecutionRole".into(),
                actions: vec!["logs:PutLogEvents".into()],
                resources: vec!["*".into()],
                leading_keys: None,
                lambdas_own: true,
            },
        ];
        let sent = [call("sqs:SendMessage", &q("urgent"), &[])];
        assert_eq!(unused_writes(&statements, &sent), ["Route: sqs:SendMessage on arn:aws:sqs:us-east-1:1:regular"]);
        let both = [call("sqs:SendMessage", &q("urgent"), &[]), call("sqs:SendMessage", &q("regular"), &[])];
        assert_eq!(unused_writes(&statements, &both), Vec::<String>::new());
        assert!(is_write("scheduler:CreateSchedule") && is_write("iam:PassRole") && is_write("kms:GenerateDataKey"));
        assert!(!is_write("dynamodb:BatchGetItem") && !is_write("sqs:ReceiveMessage"));
    }
}
