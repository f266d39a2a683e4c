//! `template.yaml` agrees with the code it deploys: the api function outlasts the longest
//! request it makes, every alarm notifies someone, and timers have a safety net.

use hookline_shared::delivery::{RetryPolicy, Urgency};
use std::time::Duration;

const TEMPLATE: &str = include_str!("../../template.yaml");

/// The lines of one top-level resource (indented by two spaces; its body by more).
fn resource(name: &str) -> Vec<&'static str> {
    let start = TEMPLATE.find(&format!("\n  {name}:\n")).unwrap_or_else(|| panic!("{name} is in the template"));
    TEMPLATE[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.is_empty() || l.starts_with("   ") || l.trim_start().starts_with('#'))
        .collect()
}

/// The value of `key:` in a resource's lines.
fn value<'a>(lines: &[&'a str], key: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| l.trim().strip_prefix(key).and_then(|r| r.strip_prefix(':')).map(str::trim))
}

/// The names of every top-level resource of a type.
fn resources_of_type(kind: &str) -> Vec<&'static str> {
    let body = &TEMPLATE[TEMPLATE.find("\nResources:\n").expect("a Resources section")..];
    let body = &body[..body.find("\nOutputs:\n").unwrap_or(body.len())];
    body.lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
        .map(|l| l.trim().trim_end_matches(':'))
        .filter(|name| value(&resource(name), "Type") == Some(kind))
        .collect()
}

#[test]
fn the_api_function_outlasts_its_longest_outbound_request() {
    let secs: u64 = value(&resource("ApiFunction"), "Timeout").expect("ApiFunction sets its Timeout").parse().unwrap();
    let timeout = Duration::from_secs(secs);
    let call_budget = RetryPolicy::for_urgency(Urgency::RealTime).give_up_after;
    let longest = hookline_api::API_REQUEST_TIMEOUT.max(call_budget);
    assert!(timeout >= longest + Duration::from_secs(5), "{timeout:?} leaves no room after {longest:?}");
    assert!(timeout < Duration::from_secs(30), "API Gateway gives up on an integration after 30 s");
}

#[test]
fn every_alarm_notifies_the_alarm_topic() {
    let alarms = resources_of_type("AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 4, "{alarms:?}");
    for a in alarms {
        assert_eq!(value(&resource(a), "AlarmActions"), Some("[!Ref AlarmTopic]"), "{a}");
    }
    assert_eq!(value(&resource("AlarmTopic"), "Type"), Some("AWS::SNS::Topic"));
}

#[test]
fn timers_that_cannot_fire_are_kept() {
    let schedule = resource("ScheduleFunction");
    assert_eq!(value(&schedule, "Destination"), Some("!GetAtt TimerDeadLetterQueue.Arn"), "on-failure destination");
    assert_eq!(value(&resource("TimerDeadLetterQueue"), "Type"), Some("AWS::SQS::Queue"));
    // Every function builds its timer from this variable, so it is global.
    let globals = &TEMPLATE[..TEMPLATE.find("\nResources:\n").unwrap()];
    assert!(globals.contains("HOOKLINE_SCHEDULE_DLQ_ARN: !GetAtt TimerDeadLetterQueue.Arn"));
    // Scheduler sends to the queue as the role it invokes the function with.
    let role = resource("SchedulerRole").join("\n");
    assert!(
        role.contains("Action: sqs:SendMessage\n                Resource: !GetAtt TimerDeadLetterQueue.Arn"),
        "{role}"
    );
}

#[test]
fn deliver_is_bounded_so_a_slow_endpoint_cannot_take_every_lambda() {
    let deliver = resource("DeliverFunction");
    assert_eq!(value(&deliver, "ReservedConcurrentExecutions"), Some("!Ref DeliverConcurrency"));
    let bounded = deliver.iter().filter(|l| l.trim() == "MaximumConcurrency: !Ref DeliverQueueConcurrency").count();
    assert_eq!(bounded, 2, "both delivery queues' event sources are bounded");
    let default = |p: &str| -> u64 { value(&resource(p), "Default").unwrap().parse().unwrap() };
    assert!(default("DeliverConcurrency") >= 2 * default("DeliverQueueConcurrency"));
}

#[test]
fn deliver_and_schedule_write_only_the_items_they_own() {
    let conditions = |function: &str| -> Vec<String> {
        resource(function)
            .iter()
            .filter_map(|l| l.trim().strip_prefix("dynamodb:LeadingKeys:").map(|v| v.trim().to_owned()))
            .collect()
    };
    // Endpoints; ordered lanes; attempts (in their event's partition) and continuations;
    // send slots.
    assert_eq!(conditions("DeliverFunction"), [r#"["EP#*"]"#, r#"["LANE#*"]"#, r#"["EVT#*"]"#, r#"["EP#*"]"#]);
    assert_eq!(conditions("ScheduleFunction"), [r#"["SCH#*"]"#]);
    // Those are the key prefixes the DynamoDB adapter writes them under.
    let entities = [
        ("EP#", include_str!("../../shared/src/aws/dynamo/endpoints.rs")),
        ("EVT#", include_str!("../../shared/src/aws/dynamo/attempts.rs")),
        ("EVT#", include_str!("../../shared/src/aws/dynamo/events.rs")),
        ("SCH#", include_str!("../../shared/src/aws/dynamo/jobs.rs")),
    ];
    for (prefix, source) in entities {
        assert!(source.contains(&format!("pk: format!(\"{prefix}{{}}\"")), "{prefix}");
    }
    assert!(include_str!("../../shared/src/aws/dynamo/slots.rs").contains(r#"key(format!("EP#{endpoint}#SLOT")"#));
    assert!(include_str!("../../shared/src/aws/dynamo/lanes.rs").contains(r#"format!("LANE#{}""#));
}

#[test]
fn functions_that_read_secrets_can_open_them_and_only_writers_can_seal() {
    // The action line of each statement on the secrets key.
    let kms = |function: &str| -> Vec<String> {
        let lines = resource(function);
        lines
            .windows(2)
            .filter(|w| w[1].trim() == "Resource: !GetAtt SecretsKey.Arn")
            .map(|w| w[0].trim().trim_start_matches("Action:").trim().to_owned())
            .collect()
    };
    assert_eq!(kms("IngestFunction"), ["kms:Decrypt"]);
    assert_eq!(kms("VerifyFunction"), ["kms:Decrypt"]);
    assert_eq!(kms("ApiFunction"), ["[kms:GenerateDataKey, kms:Decrypt]"]);
    assert_eq!(kms("DeliverFunction"), ["[kms:GenerateDataKey, kms:Decrypt]"]);
    assert!(kms("ScheduleFunction").is_empty());
    // Every function is told the key, under the name the DynamoDB store reads.
    assert!(TEMPLATE.contains("        HOOKLINE_SECRETS_KEY_ID: !Ref SecretsKey\n"));
    assert!(include_str!("../../shared/src/aws/dynamo/mod.rs").contains("\"HOOKLINE_SECRETS_KEY_ID\""));
    assert_eq!(value(&resource("SecretsKey"), "DeletionPolicy"), Some("Retain"));
}
