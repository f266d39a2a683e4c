//! The store ports on DynamoDB.
//!
//! Access patterns, per table:
//! - `subscriptions` (pk, sk; GSIs `gsi1` and `gsi2`):
//!   org `ORG#{id}`/`ORG`; API key `KEY#{sha256}`/`KEY` → org id and its record, listed
//!   per org through gsi1 `ORG#{org}#KEY`;
//!   source `SRC#{id}`/`SRC`, listed per org through gsi1 `ORG#{org}#SRC` / `{ms}#{id}`;
//!   endpoint `EP#{id}`/`EP`, listed per org through gsi1 `ORG#{org}#EP`, and counted
//!   in `ORG#{org}`/`COUNT#EP` (see `counted`).
//! - `logs` (pk, sk; GSI `gsi1`): event `EVT#{id}`/`EVT`, listed per org newest first
//!   through gsi1 `ORG#{org}#EVT` / `{ms:013}#{id}`; its attempts in its partition,
//!   `EVT#{event}`/`ATM#{id}`, listed per endpoint through gsi1 `EP#{endpoint}#ATM`;
//!   a rate-limited endpoint's next send slot, `EP#{id}#SLOT`/`SLOT` (see `slots`);
//!   an ordered delivery's place in its lane, `LANE#{endpoint}#{key digest}`/`{position}`,
//!   and the counter of an org's ordered stream, `STREAM#{org}#{key digest}`/`STREAM`
//!   (see `lanes`); a source's rejection records, `REJ#{source}`/`SLOT#{nn}`, and their
//!   counter, `REJ#{source}`/`COUNT` (see `rejections`).
//! - Scheduled job (in `subscriptions`) `SCH#{id}`/`SCH`, listed per org through gsi1
//!   `ORG#{org}#SCH`, and by key (`ORG#{org}#KEY#{key}`) or recurring name
//!   (`ORG#{org}#REC#{name}`) through gsi2.
//!
//! Every index projects all attributes, and DynamoDB bills each copy an item leaves in
//! an index as a write of its own: a key is given an index only where a listing needs it.

mod attempts;
mod counted;
mod endpoints;
mod events;
mod jobs;
mod lanes;
mod orgs;
mod query;
mod rejections;
mod slots;
mod sources;

use crate::error::StoreError;
use crate::sealing::Sealer;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The two table names (one stack per stage, so never hard-coded).
#[derive(Debug, Clone)]
pub struct TableNames {
    /// Orgs, keys, sources, endpoints and scheduled jobs.
    pub subscriptions: String,
    /// Events (each its own dedupe claim) and delivery attempts.
    pub logs: String,
}

impl TableNames {
    /// From `HOOKLINE_SUBSCRIPTIONS_TABLE` and `HOOKLINE_LOGS_TABLE`.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            subscriptions: super::required_env("HOOKLINE_SUBSCRIPTIONS_TABLE")?,
            logs: super::required_env("HOOKLINE_LOGS_TABLE")?,
        })
    }
}

/// The DynamoDB store.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
    /// Seals endpoint and source secrets.
    sealer: Sealer,
    slot_hints: std::sync::Arc<slots::SlotHints>,
}

impl DynamoStore {
    /// A store using `client` on `tables`, sealing secrets with `sealer`.
    pub fn new(client: Client, tables: TableNames, sealer: Sealer) -> Self {
        Self { client, tables, sealer, slot_hints: Default::default() }
    }

    /// A store with clients built from the SDK configuration, sealing secrets with data
    /// keys under the KMS key `secrets_key`.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, tables: TableNames, secrets_key: &str) -> Self {
        Self::new(Client::new(sdk), tables, Sealer::new(super::KmsKeys::new(sdk, secrets_key)))
    }

    /// [`DynamoStore::from_sdk`] with the tables of [`TableNames::from_env`] and the KMS key
    /// of `HOOKLINE_SECRETS_KEY_ID`.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> anyhow::Result<Self> {
        let key = super::required_env("HOOKLINE_SECRETS_KEY_ID")?;
        Ok(Self::from_sdk(sdk, TableNames::from_env()?, &key))
    }
}

type Item = HashMap<String, AttributeValue>;

fn to_item<T: Serialize>(v: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn sort_key(ms: i64, id: &str) -> String {
    format!("{ms:013}#{id}")
}
