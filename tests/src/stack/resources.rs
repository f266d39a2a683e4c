//! The template's resources, created in moto as CloudFormation would create them: tables
//! with their keys, indexes and TTL, queues with their visibility timeouts and redrive
//! policies, the schedule group, the event bus, the KMS key. Resources moto does not
//! run (functions, mappings, the HTTP API) get the names and ARNs CloudFormation would
//! give them; the stack run plays their part.

use super::recorder::Account;
use super::template::{Created, Resolver, Template, ACCOUNT_ID};
use anyhow::{anyhow, bail, Context};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Map, Value};

/// Resource types that only the stack run itself stands for, or that nothing reads.
const PLAYED: [&str; 9] = [
    "AWS::Lambda::Function",
    "AWS::Lambda::Url",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Permission",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::CloudWatch::Alarm",
    "AWS::SNS::Topic",
];

/// Create every resource of `template`, in an order that satisfies their references.
pub async fn create_all(
    sdk: &aws_config::SdkConfig,
    template: &Template,
    resolver: &mut Resolver,
) -> anyhow::Result<()> {
    let mut pending: Vec<(String, String, Map<String, Value>)> = Vec::new();
    for kind in [
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::Scheduler::ScheduleGroup",
        "AWS::Events::EventBus",
        "AWS::KMS::Key",
        "AWS::IAM::Role",
    ]
    .into_iter()
    .chain(PLAYED)
    {
        for (id, props) in template.resources(kind) {
            pending.push((id.to_owned(), kind.to_owned(), props.clone()));
        }
    }
    let all_known: usize = pending.len();
    let total = template.resources_count();
    if all_known != total {
        bail!("the template has resource types the stack run does not know ({total} resources, {all_known} known)");
    }
    // Each pass creates what it can resolve; a reference to something not yet created waits.
    while !pending.is_empty() {
        let before = pending.len();
        let mut waiting = Vec::new();
        let mut last_err = None;
        for (id, kind, props) in pending {
            match resolver.resolve(&Value::Object(props.clone())) {
                Ok(resolved) => {
                    let created = create(sdk, &kind, &id, resolved.as_object().unwrap_or(&Map::new()), resolver)
                        .await
                        .with_context(|| format!("creating {id} ({kind})"))?;
                    resolver.created.insert(id, created);
                }
                Err(e) => {
                    last_err = Some(e);
                    waiting.push((id, kind, props));
                }
            }
        }
        if waiting.len() == before {
            return Err(last_err.unwrap_or_else(|| anyhow!("unresolvable references")));
        }
        pending = waiting;
    }
    Ok(())
}

async fn create(
    sdk: &aws_config::SdkConfig,
    kind: &str,
    id: &str,
    p: &Map<String, Value>,
    r: &Resolver,
) -> anyhow::Result<Created> {
    let account = Account { region: r.region.clone(), account: ACCOUNT_ID.into() };
    let generated = format!("{}-{id}", r.stack);
    let mut c = Created::default();
    match kind {
        "AWS::DynamoDB::Table" => {
            create_table(sdk, &generated, p).await?;
            c.attrs.insert("Arn".into(), account.arn("dynamodb", &format!("table/{generated}")));
            c.reference = generated;
        }
        "AWS::SQS::Queue" => {
            // CloudFormation names a FIFO queue as SQS requires: ending in `.fifo`.
            let fifo = p.get("FifoQueue").is_some_and(|v| v == &Value::Bool(true) || v == "true");
            let generated = if fifo { format!("{generated}.fifo") } else { generated };
            let client = aws_sdk_sqs::Client::new(sdk);
            let mut req = client.create_queue().queue_name(&generated);
            for (k, v) in p {
                let value = match v {
                    Value::String(s) => s.clone(),
                    Value::Object(_) => v.to_string(),
                    other => other.to_string(),
                };
                if k != "SqsManagedSseEnabled" {
                    req = req.attributes(QueueAttributeName::from(k.as_str()), value);
                }
            }
            let url = req.send().await?.queue_url.ok_or_else(|| anyhow!("no queue URL"))?;
            c.attrs.insert("Arn".into(), account.arn("sqs", &generated));
            c.attrs.insert("QueueName".into(), generated);
            c.attrs.insert("QueueUrl".into(), url.clone());
            c.reference = url;
        }
        "AWS::Scheduler::ScheduleGroup" => {
            aws_sdk_scheduler::Client::new(sdk).create_schedule_group().name(&generated).send().await?;
            c.attrs.insert("Arn".into(), account.arn("scheduler", &format!("schedule-group/{generated}")));
            c.reference = generated;
        }
        "AWS::Events::EventBus" => {
            let name = p.get("Name").and_then(Value::as_str).unwrap_or(&generated).to_owned();
            aws_sdk_eventbridge::Client::new(sdk).create_event_bus().name(&name).send().await?;
            c.attrs.insert("Arn".into(), account.arn("events", &format!("event-bus/{name}")));
            c.reference = name;
        }
        "AWS::KMS::Key" => {
            let key = aws_sdk_kms::Client::new(sdk).create_key().send().await?;
            let meta = key.key_metadata.ok_or_else(|| anyhow!("no key metadata"))?;
            c.attrs.insert("Arn".into(), meta.arn.unwrap_or_default());
            c.reference = meta.key_id;
        }
        "AWS::IAM::Role" => {
            c.attrs.insert("Arn".into(), format!("arn:aws:iam::{ACCOUNT_ID}:role/{generated}"));
            c.reference = generated;
        }
        "AWS::Lambda::Function" => {
            let name = p.get("FunctionName").and_then(Value::as_str).unwrap_or(&generated).to_owned();
            c.attrs.insert("Arn".into(), account.arn("lambda", &format!("function:{name}")));
            c.reference = name;
        }
        // Its address is known once the stack run listens for it.
        "AWS::Lambda::Url" => {
            let target = p.get("TargetFunctionArn").and_then(Value::as_str).unwrap_or_default();
            c.attrs.insert("FunctionArn".into(), target.to_owned());
            c.reference = target.to_owned();
        }
        "AWS::SNS::Topic" => c.reference = account.arn("sns", &generated),
        _ => c.reference = generated,
    }
    Ok(c)
}

/// Create table `name` with the properties `p` of an `AWS::DynamoDB::Table`.
pub(crate) async fn create_table(
    sdk: &aws_config::SdkConfig,
    name: &str,
    p: &Map<String, Value>,
) -> anyhow::Result<()> {
    let keys = |v: &Value| -> anyhow::Result<Vec<KeySchemaElement>> {
        let list = v.as_array().ok_or_else(|| anyhow!("KeySchema"))?;
        list.iter()
            .map(|k| {
                Ok(KeySchemaElement::builder()
                    .attribute_name(k["AttributeName"].as_str().unwrap_or_default())
                    .key_type(KeyType::from(k["KeyType"].as_str().unwrap_or_default()))
                    .build()?)
            })
            .collect()
    };
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(p["BillingMode"].as_str().unwrap_or("PAY_PER_REQUEST")))
        .set_key_schema(Some(keys(&p["KeySchema"])?));
    for a in p["AttributeDefinitions"].as_array().into_iter().flatten() {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a["AttributeName"].as_str().unwrap_or_default())
                .attribute_type(ScalarAttributeType::from(a["AttributeType"].as_str().unwrap_or_default()))
                .build()?,
        );
    }
    for g in p.get("GlobalSecondaryIndexes").and_then(Value::as_array).into_iter().flatten() {
        let projection = g["Projection"]["ProjectionType"].as_str().unwrap_or("ALL");
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(g["IndexName"].as_str().unwrap_or_default())
                .set_key_schema(Some(keys(&g["KeySchema"])?))
                .projection(Projection::builder().projection_type(ProjectionType::from(projection)).build())
                .build()?,
        );
    }
    req.send().await?;
    if let Some(ttl) = p.get("TimeToLiveSpecification") {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(ttl["AttributeName"].as_str().unwrap_or_default())
            .enabled(ttl["Enabled"].as_bool().unwrap_or(false))
            .build()?;
        client.update_time_to_live().table_name(name).time_to_live_specification(spec).send().await?;
    }
    Ok(())
}
