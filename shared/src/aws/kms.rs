//! Data keys from KMS for [`Sealer`](crate::sealing::Sealer): one generated per process
//! under the stack's key, and each key found in a sealed value decrypted once and kept
//! (readers asking for the same key at once share one decrypt).

use crate::error::StoreError;
use crate::sealing::{DataKey, KeySource};
use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use aws_sdk_kms::Client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Data keys under one KMS key.
#[derive(Debug)]
pub struct KmsKeys {
    client: Client,
    key_id: String,
    current: OnceCell<(String, DataKey)>,
    known: Mutex<HashMap<String, Arc<OnceCell<DataKey>>>>,
}

impl KmsKeys {
    /// Keys under `key_id` (an id, ARN or alias).
    pub fn new(sdk: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        Self { client: Client::new(sdk), key_id: key_id.into(), current: OnceCell::new(), known: Mutex::default() }
    }
}

fn kms_err<E: std::error::Error + 'static>(e: aws_sdk_kms::error::SdkError<E>) -> StoreError {
    StoreError::Unavailable(format!("kms: {}", aws_sdk_kms::error::DisplayErrorContext(e)))
}

#[async_trait]
impl KeySource for KmsKeys {
    async fn current(&self) -> Result<(String, DataKey), StoreError> {
        let current = self
            .current
            .get_or_try_init(|| async {
                let out = self
                    .client
                    .generate_data_key()
                    .key_id(&self.key_id)
                    .key_spec(DataKeySpec::Aes256)
                    .send()
                    .await
                    .map_err(kms_err)?;
                let (Some(plain), Some(sealed)) = (out.plaintext, out.ciphertext_blob) else {
                    return Err(StoreError::Unavailable("kms: a data key without its parts".into()));
                };
                Ok((B64.encode(sealed.as_ref()), DataKey::from_bytes(plain.as_ref())?))
            })
            .await?;
        Ok(current.clone())
    }

    async fn key_for(&self, reference: &str) -> Result<DataKey, StoreError> {
        let cell =
            self.known.lock().unwrap_or_else(|e| e.into_inner()).entry(reference.to_owned()).or_default().clone();
        let key = cell
            .get_or_try_init(|| async {
                let blob =
                    B64.decode(reference).map_err(|_| StoreError::Corrupt("sealed with a malformed key".into()))?;
                let out = self.client.decrypt().ciphertext_blob(Blob::new(blob)).send().await.map_err(kms_err)?;
                let plain = out.plaintext.ok_or_else(|| StoreError::Unavailable("kms: no plaintext".into()))?;
                DataKey::from_bytes(plain.as_ref())
            })
            .await?;
        Ok(key.clone())
    }
}
