//! Secrets at rest: what a store writes for a source or an endpoint holds neither its
//! secrets nor the headers the endpoint is sent with, on SQLite (a key file beside the
//! database) and on DynamoDB (KMS data keys, against moto); a store with the key reads
//! them back, one with another key file cannot, and items from before sealing still read.

#![allow(clippy::unwrap_used)] // helpers of a test panic like the test itself

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use hookline_shared::aws::DynamoStore;
use hookline_shared::delivery::Endpoint;
use hookline_shared::local::{LocalDb, LocalStore};
use hookline_shared::ports::{EndpointStore, SourceStore};
use hookline_shared::{OrgId, Provider, Secret, Source};

const SOURCE_SECRET: &str = "source-secret-7f3a91";
const HEADER_TOKEN: &str = "header-token-c2d8e4";

fn source(org: &OrgId) -> Source {
    Source::new(org.clone(), "gh".into(), Provider::Github, vec![Secret::new(SOURCE_SECRET)], Utc::now())
}

fn endpoint(org: &OrgId) -> Endpoint {
    Endpoint {
        headers: [("Authorization".to_owned(), format!("Bearer {HEADER_TOKEN}"))].into_iter().collect(),
        ..Endpoint::new(org.clone(), "https://example.com/hook".into(), vec!["*".into()], Utc::now())
    }
}

/// The plain values a dump must not show.
fn plain_values(ep: &Endpoint) -> Vec<String> {
    vec![SOURCE_SECRET.to_owned(), HEADER_TOKEN.to_owned(), ep.secrets[0].secret.expose().to_owned()]
}

#[tokio::test]
async fn secrets_are_sealed_in_the_local_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookline.db");
    let org = OrgId::new();
    let (src, ep) = (source(&org), endpoint(&org));
    {
        let store = LocalStore::new(LocalDb::open(&path).unwrap());
        store.put_source(&src).await.unwrap();
        store.create_endpoint(&ep, None).await.unwrap();
    }
    // What is on disk: the database file and its WAL.
    let mut dump = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with("hookline.db") {
            dump.extend(std::fs::read(entry.path()).unwrap());
        }
    }
    let dump = String::from_utf8_lossy(&dump);
    assert!(dump.contains(&src.id.to_string()), "the dump holds the records");
    for plain in plain_values(&ep) {
        assert!(!dump.contains(&plain), "{plain} is in the database file");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("hookline.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key file is the owner's only");
    }

    // Reopened with its key, everything reads back.
    let store = LocalStore::new(LocalDb::open(&path).unwrap());
    assert_eq!(store.get_source(&src.id).await.unwrap(), Some(src.clone()));
    assert_eq!(store.get_endpoint(&org, &ep.id).await.unwrap(), Some(ep.clone()));
    drop(store);
    // With another key, nothing does.
    std::fs::write(dir.path().join("hookline.key"), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap();
    let other = LocalStore::new(LocalDb::open(&path).unwrap());
    assert!(other.get_source(&src.id).await.is_err());
    assert!(other.list_endpoints(&org).await.is_err());
}

#[tokio::test]
async fn secrets_are_sealed_in_dynamodb_under_the_kms_key() {
    let Some(sdk) = hookline_tests::moto().await else { return };
    let tables = hookline_tests::create_tables(&sdk).await.unwrap();
    let key = hookline_tests::secrets_key(&sdk).await.unwrap();
    let org = OrgId::new();
    let (src, ep) = (source(&org), endpoint(&org));
    let store = DynamoStore::from_sdk(&sdk, tables.clone(), &key);
    store.put_source(&src).await.unwrap();
    store.create_endpoint(&ep, None).await.unwrap();

    // A table export: every item as DynamoDB holds it.
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let items = client.scan().table_name(&tables.subscriptions).send().await.unwrap().items.unwrap_or_default();
    let dump = format!("{items:?}");
    assert!(dump.contains(&src.id.to_string()) && dump.contains(&ep.id.to_string()));
    for plain in plain_values(&ep) {
        assert!(!dump.contains(&plain), "{plain} is in the table");
    }

    // Another process (its data key decrypted through KMS) reads them.
    let again = DynamoStore::from_sdk(&sdk, tables.clone(), &key);
    assert_eq!(again.get_source(&src.id).await.unwrap(), Some(src.clone()));
    assert_eq!(again.get_endpoint(&org, &ep.id).await.unwrap(), Some(ep.clone()));

    // A source written before sealing (its secrets a plain attribute) still reads.
    let legacy = source(&org);
    let mut item = client
        .get_item()
        .table_name(&tables.subscriptions)
        .key("pk", AttributeValue::S(format!("SRC#{}", src.id)))
        .key("sk", AttributeValue::S("SRC".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    item.remove("sealed_secrets");
    item.insert("pk".into(), AttributeValue::S(format!("SRC#{}", legacy.id)));
    item.insert("id".into(), AttributeValue::S(legacy.id.to_string()));
    item.insert("secrets".into(), AttributeValue::L(vec![AttributeValue::S(SOURCE_SECRET.into())]));
    client.put_item().table_name(&tables.subscriptions).set_item(Some(item)).send().await.unwrap();
    let read = store.get_source(&legacy.id).await.unwrap().unwrap();
    assert_eq!(read.secrets, vec![Secret::new(SOURCE_SECRET)]);
}
