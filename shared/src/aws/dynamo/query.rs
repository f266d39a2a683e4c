//! The requests every entity's store is made of: get, put, conditional put, owned
//! delete, and the paged queries of the indexes.

use super::{s, sort_key, DynamoStore, Item};
use crate::aws::sdk_err;
use crate::error::StoreError;
use crate::ids::OrgId;
use crate::ports::cursor;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

impl DynamoStore {
    pub(super) async fn get(&self, table: &str, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
        Ok(out.item)
    }

    /// Put an item unconditionally.
    pub(super) async fn put(&self, table: &str, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
        Ok(())
    }

    /// Put an item only if `condition` holds; false when it does not.
    pub(super) async fn put_if(
        &self,
        table: &str,
        item: Item,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut req = self.client.put_item().table_name(table).set_item(Some(item)).condition_expression(condition);
        for (name, value) in values {
            req = req.expression_attribute_values(name, value);
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(StoreError::Unavailable(sdk_err(e))),
        }
    }

    /// Every item under `gsi1pk` on gsi1, oldest first.
    pub(super) async fn query_all(&self, table: &str, gsi1pk: String) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(gsi1pk.clone()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
    }

    /// Delete an item only if `org` owns it; false when it does not exist there.
    pub(super) async fn delete_owned(&self, table: &str, key: Item, org: &OrgId) -> Result<bool, StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(table)
            .set_key(Some(key))
            .condition_expression("org_id = :org")
            .expression_attribute_values(":org", s(org.as_str()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(StoreError::Unavailable(sdk_err(e))),
        }
    }

    /// Query the table or an index within `range`, newest first (oldest first for a range
    /// `after` a key), keeping items that pass `filter`, until `want` items are collected
    /// or the index is exhausted (a filter applies after `Limit`, so one page may hold fewer).
    pub(super) async fn query_range(
        &self,
        table: &str,
        index: Index,
        pk: String,
        range: SortRange,
        filter: Option<Filter>,
        want: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let (pk_attr, sk_attr) = index.attrs();
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(table)
                .set_index_name(index.name().map(str::to_owned))
                .scan_index_forward(range.after.is_some())
                .limit((want - items.len()).max(1) as i32)
                .expression_attribute_names("#pk", pk_attr)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start.take());
            q = range.key_condition(q, sk_attr);
            if let Some(f) = &filter {
                q = f.apply(q);
            }
            let out = q.send().await.map_err(|e| StoreError::Unavailable(sdk_err(e)))?;
            // BETWEEN is inclusive: the cursor's own item was on the previous page.
            let before = range.before.as_deref();
            items.extend(out.items.unwrap_or_default().into_iter().filter(|i| {
                before.is_none() || i.get(sk_attr).and_then(|v| v.as_s().ok()).map(String::as_str) != before
            }));
            match out.last_evaluated_key {
                Some(k) if items.len() < want => start = Some(k),
                _ => break,
            }
        }
        items.truncate(want);
        Ok(items)
    }
}

/// What a query reads: the table's own key or one of its indexes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Index {
    /// The table's key (an event's attempts).
    Table,
    /// Per-owner listings (org's events and sources, endpoint's attempts).
    Gsi1,
    /// Scheduled jobs by key or recurring name.
    Gsi2,
}

impl Index {
    pub(super) fn name(self) -> Option<&'static str> {
        match self {
            Index::Table => None,
            Index::Gsi1 => Some("gsi1"),
            Index::Gsi2 => Some("gsi2"),
        }
    }

    pub(super) fn attrs(self) -> (&'static str, &'static str) {
        match self {
            Index::Table => ("pk", "sk"),
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
            Index::Gsi2 => ("gsi2pk", "gsi2sk"),
        }
    }
}

/// Bounds on the sort key: at or after `since`, before `before` (a cursor); or, read
/// oldest first, everything after `after`.
#[derive(Debug, Default)]
pub(super) struct SortRange {
    pub(super) since: Option<String>,
    pub(super) before: Option<String>,
    pub(super) after: Option<String>,
}

/// A query of the index being built.
type QueryBuilder = aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;

impl SortRange {
    /// The key condition: the partition `:pk`, and the sort key `sk_attr` within the range.
    fn key_condition(&self, mut q: QueryBuilder, sk_attr: &str) -> QueryBuilder {
        let cond = match (&self.since, &self.before, &self.after) {
            (_, _, Some(c)) => {
                q = q.expression_attribute_values(":c", s(c.clone()));
                "#pk = :pk AND #sk > :c"
            }
            (Some(a), Some(b), None) => {
                q = q.expression_attribute_values(":a", s(a.clone())).expression_attribute_values(":b", s(b.clone()));
                "#pk = :pk AND #sk BETWEEN :a AND :b"
            }
            (Some(a), None, None) => {
                q = q.expression_attribute_values(":a", s(a.clone()));
                "#pk = :pk AND #sk >= :a"
            }
            (None, Some(b), None) => {
                q = q.expression_attribute_values(":b", s(b.clone()));
                "#pk = :pk AND #sk < :b"
            }
            (None, None, None) => "#pk = :pk",
        };
        if cond.contains("#sk") {
            q = q.expression_attribute_names("#sk", sk_attr);
        }
        q.key_condition_expression(cond)
    }

    /// Every sort key that starts with `prefix` (which ends in `#`: the next character
    /// up, `$`, bounds it).
    pub(super) fn prefixed(prefix: &str) -> Self {
        let stem = prefix.strip_suffix('#').expect("a prefix ends in #");
        Self { since: Some(prefix.to_owned()), before: Some(format!("{stem}$")), after: None }
    }

    pub(super) fn from_query(cursor_text: Option<&String>, since: Option<DateTime<Utc>>) -> Result<Self, StoreError> {
        let before = cursor_text
            .map(|c| cursor::decode(c).map(|(ms, id)| sort_key(ms, &id)).ok_or(StoreError::InvalidCursor))
            .transpose()?;
        Ok(Self { since: since.map(|t| sort_key(t.timestamp_millis(), "")), before, after: None })
    }
}

/// Non-key conditions.
#[derive(Debug)]
pub(super) enum Filter {
    Type(String),
    Statuses(Vec<&'static str>),
}

impl Filter {
    fn apply(&self, q: QueryBuilder) -> QueryBuilder {
        match self {
            Filter::Type(t) => q
                .filter_expression("#t = :t")
                .expression_attribute_names("#t", "type")
                .expression_attribute_values(":t", s(t.clone())),
            Filter::Statuses(list) if !list.is_empty() => {
                let names: Vec<String> = (0..list.len()).map(|i| format!(":s{i}")).collect();
                let mut q = q;
                for (n, v) in names.iter().zip(list) {
                    q = q.expression_attribute_values(n, s(*v));
                }
                q.filter_expression(format!("#st IN ({})", names.join(", ")))
                    .expression_attribute_names("#st", "status")
            }
            Filter::Statuses(_) => q,
        }
    }
}
