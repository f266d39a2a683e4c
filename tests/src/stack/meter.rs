//! What a stack run would be billed for: every request by who made it (a function, the
//! SQS pollers, API Gateway, Scheduler) and what it was, counted in the units AWS bills:
//! SQS requests per 64 KiB chunk, DynamoDB read and write units from the item sizes as
//! DynamoDB counts them, Lambda invocations and billed GB-seconds. `tests/stack/price.py`
//! turns a report into dollars.

use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Billing units of one kind of request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Requests, counted as billed (SQS: per 64 KiB chunk; API Gateway: per 512 KiB).
    pub requests: f64,
    /// DynamoDB read request units.
    pub read_units: f64,
    /// DynamoDB write request units.
    pub write_units: f64,
    /// Lambda billed duration × memory.
    pub gb_seconds: f64,
}

impl Tally {
    /// `n` plain requests.
    pub fn requests(n: f64) -> Self {
        Self { requests: n, ..Self::default() }
    }

    fn add(&mut self, o: &Tally) {
        self.requests += o.requests;
        self.read_units += o.read_units;
        self.write_units += o.write_units;
        self.gb_seconds += o.gb_seconds;
    }

    fn minus(&self, o: &Tally) -> Tally {
        Tally {
            requests: self.requests - o.requests,
            read_units: self.read_units - o.read_units,
            write_units: self.write_units - o.write_units,
            gb_seconds: self.gb_seconds - o.gb_seconds,
        }
    }
}

/// One line of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// A function's logical id, `poller`, `apigw`, `function-url` or `scheduler`.
    pub who: String,
    /// `dynamodb:PutItem`, `sqs:ReceiveMessage`, `lambda:Invoke`, …
    pub what: String,
    /// Its units.
    #[serde(flatten)]
    pub tally: Tally,
}

/// Each table's global secondary indexes, by the table's name: the attribute each
/// index is partitioned on. Every index of the template projects all attributes, so an
/// item written with that attribute is written again, whole, to the index.
pub type Indexes = HashMap<String, Vec<String>>;

/// Everything a stack has been billed for so far, shared by its parts.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    counts: Arc<Mutex<BTreeMap<(String, String), Tally>>>,
    indexes: Arc<Indexes>,
}

/// A meter's reading.
pub type Reading = BTreeMap<(String, String), Tally>;

impl Meter {
    /// A meter for a stack whose tables have `indexes`.
    pub fn new(indexes: Indexes) -> Self {
        Self { counts: Arc::default(), indexes: Arc::new(indexes) }
    }

    /// Count `tally` for `who` doing `what`.
    pub fn add(&self, who: &str, what: &str, tally: Tally) {
        let mut m = self.counts.lock().expect("meter");
        m.entry((who.to_owned(), what.to_owned())).or_default().add(&tally);
    }

    /// The reading now.
    pub fn read(&self) -> Reading {
        self.counts.lock().expect("meter").clone()
    }

    /// The tables' indexes.
    pub fn indexes(&self) -> &Indexes {
        &self.indexes
    }

    /// What was counted since `before`.
    pub fn since(&self, before: &Reading) -> Vec<Line> {
        self.read()
            .into_iter()
            .map(|((who, what), t)| {
                let tally = before.get(&(who.clone(), what.clone())).map_or(t, |b| t.minus(b));
                Line { who, what, tally }
            })
            .filter(|l| l.tally != Tally::default())
            .collect()
    }
}

/// The sum of `lines` whose `what` starts with `prefix` (`dynamodb:`), for `who` if given.
pub fn total(lines: &[Line], who: Option<&str>, prefix: &str) -> Tally {
    let mut t = Tally::default();
    for l in lines.iter().filter(|l| l.what.starts_with(prefix) && who.is_none_or(|w| l.who == w)) {
        t.add(&l.tally);
    }
    t
}

/// The size of an attribute value as DynamoDB counts it.
fn value_size(v: &Value) -> usize {
    let Some((kind, x)) = v.as_object().and_then(|o| o.iter().next()) else { return 0 };
    let text = |x: &Value| x.as_str().map_or(0, str::len);
    // Binary travels base64-encoded; its size is the decoded length.
    let binary = |x: &Value| text(x) * 3 / 4;
    // A number takes about one byte per two significant digits, plus one.
    let number = |x: &Value| text(x).div_ceil(2) + 1;
    let each = |f: &dyn Fn(&Value) -> usize| x.as_array().into_iter().flatten().map(f).sum::<usize>();
    match kind.as_str() {
        "S" => text(x),
        "N" => number(x),
        "B" => binary(x),
        "BOOL" | "NULL" => 1,
        "SS" => each(&text),
        "NS" => each(&number),
        "BS" => each(&binary),
        "L" => 3 + each(&|e| 1 + value_size(e)),
        "M" => 3 + x.as_object().into_iter().flatten().map(|(k, e)| 1 + k.len() + value_size(e)).sum::<usize>(),
        _ => 0,
    }
}

/// An item's size as DynamoDB counts it: each attribute's name and value.
pub fn item_size(item: &Value) -> usize {
    item.as_object().into_iter().flatten().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn units(bytes: usize, per: usize) -> f64 {
    bytes.div_ceil(per).max(1) as f64
}

/// The write units of `item` in `table`: the table's, and each index's the item is in.
fn item_writes(indexes: &Indexes, table: &str, item: &Value) -> f64 {
    let copies = 1 + indexes.get(table).into_iter().flatten().filter(|a| item.get(a.as_str()).is_some()).count();
    copies as f64 * units(item_size(item), 1024)
}

/// The units one DynamoDB request consumes, from its request and its answer.
pub fn dynamodb(op: &str, request: &Value, answer: &Value, indexes: &Indexes) -> Tally {
    let table = request["TableName"].as_str().unwrap_or_default();
    // Eventually consistent reads cost half.
    let read_factor = |r: &Value| if r["ConsistentRead"] == Value::Bool(true) { 1.0 } else { 0.5 };
    let write = |w: f64| Tally { requests: 1.0, write_units: w, ..Tally::default() };
    let read = |r: f64| Tally { requests: 1.0, read_units: r, ..Tally::default() };
    let items = |v: &Value| v.as_array().into_iter().flatten().map(item_size).sum::<usize>();
    match op {
        "PutItem" => write(item_writes(indexes, table, &request["Item"])),
        "UpdateItem" | "DeleteItem" => write(item_writes(indexes, table, &answer["Attributes"])),
        "GetItem" => read(units(item_size(&answer["Item"]), 4096) * read_factor(request)),
        "Query" | "Scan" => read(units(items(&answer["Items"]), 4096) * read_factor(request)),
        "BatchWriteItem" => write(
            request["RequestItems"]
                .as_object()
                .into_iter()
                .flatten()
                .flat_map(|(t, reqs)| reqs.as_array().into_iter().flatten().map(move |r| (t, r)))
                .map(|(t, r)| item_writes(indexes, t, &r["PutRequest"]["Item"]))
                .sum(),
        ),
        "BatchGetItem" => read(
            answer["Responses"]
                .as_object()
                .into_iter()
                .flatten()
                .flat_map(|(_, items)| items.as_array().into_iter().flatten())
                .map(|i| units(item_size(i), 4096) * 0.5)
                .sum(),
        ),
        // Transactions cost twice, per item.
        "TransactWriteItems" => write(
            request["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| {
                    2.0 * item_writes(indexes, i["Put"]["TableName"].as_str().unwrap_or_default(), &i["Put"]["Item"])
                })
                .sum(),
        ),
        "TransactGetItems" => read(
            answer["Responses"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| 2.0 * units(item_size(&i["Item"]), 4096))
                .sum(),
        ),
        _ => Tally::requests(1.0),
    }
}

/// SQS bills a request per 64 KiB of payload.
pub fn sqs_requests(bytes: usize) -> Tally {
    Tally::requests(units(bytes, 64 * 1024))
}

/// Lambda bills each invocation's duration rounded up to the millisecond, times its memory.
pub fn lambda(duration: std::time::Duration, memory_mb: u32) -> Tally {
    let ms = duration.as_micros().div_ceil(1000) as f64;
    Tally { requests: 1.0, gb_seconds: ms / 1000.0 * f64::from(memory_mb) / 1024.0, ..Tally::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn item_sizes_and_units_are_counted_as_dynamodb_counts_them() {
        // "pk" (2) + "a" (1) + 1,000 bytes, "n" (1) + "12345" (3 + 1): over 1 KiB is two write units.
        let item = json!({"pk": {"S": "ab"}, "n": {"N": "12345"}, "a": {"S": "x".repeat(1020)}});
        assert_eq!(item_size(&item), 2 + 2 + 1 + 4 + 1 + 1020);
        let none = Indexes::new();
        assert_eq!(dynamodb("PutItem", &json!({"Item": item}), &json!({}), &none).write_units, 2.0);
        // An item with an index's key is written to that index too.
        let indexes: Indexes = [("t".to_owned(), vec!["gsi1pk".to_owned(), "gsi2pk".to_owned()])].into();
        let indexed = json!({"pk": {"S": "ab"}, "gsi1pk": {"S": "o"}});
        let put =
            |table: &str| dynamodb("PutItem", &json!({"TableName": table, "Item": indexed}), &json!({}), &indexes);
        assert_eq!((put("t").write_units, put("other").write_units), (2.0, 1.0));
        let small = json!({"pk": {"S": "ab"}, "m": {"M": {"k": {"BOOL": true}}}});
        // "m": 3 + (1 + "k" + 1)
        assert_eq!(item_size(&small), 4 + 1 + 3 + 1 + 1 + 1);
        let get = dynamodb("GetItem", &json!({}), &json!({"Item": small}), &none);
        assert_eq!((get.requests, get.read_units), (1.0, 0.5));
        let strong = dynamodb("GetItem", &json!({"ConsistentRead": true}), &json!({}), &none);
        assert_eq!(strong.read_units, 1.0, "a miss still costs a unit");
        let q = dynamodb("Query", &json!({}), &json!({"Items": [{"a": {"S": "x".repeat(5000)}}]}), &none);
        assert_eq!(q.read_units, 1.0, "5 KB is two 4 KB units, halved");
        assert_eq!(sqs_requests(64 * 1024 + 1).requests, 2.0);
        let l = lambda(std::time::Duration::from_micros(2_100), 512);
        assert_eq!((l.requests, l.gb_seconds), (1.0, 0.0015));
    }
}
