//! The key that seals secrets in a local database: a file beside it (`<db>.key`, owner
//! only, made on first open), so a copy of the database alone does not give them away.

use crate::error::StoreError;
use crate::sealing::{DataKey, FixedKey, Sealer};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::path::Path;

/// The sealer of the database at `db`; for an in-memory database, a fresh random key.
pub(super) fn sealer_for(db: Option<&Path>) -> Result<Sealer, StoreError> {
    let Some(db) = db else {
        return Ok(Sealer::new(FixedKey::new(&DataKey::random_bytes()?)?));
    };
    let path = db.with_extension("key");
    let key = match std::fs::read_to_string(&path) {
        Ok(text) => B64.decode(text.trim()).map_err(|_| bad_key(&path))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = DataKey::random_bytes()?;
            write_private(&path, &B64.encode(key)).map_err(|e| unavailable(&path, &e))?;
            key.to_vec()
        }
        Err(e) => return Err(unavailable(&path, &e)),
    };
    Ok(Sealer::new(FixedKey::new(&key).map_err(|_| bad_key(&path))?))
}

/// Write `contents` to a new or truncated file only its owner can read.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(contents.as_bytes())
}

fn bad_key(path: &Path) -> StoreError {
    StoreError::Corrupt(format!("{} is not a base64 32-byte key", path.display()))
}

fn unavailable(path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{}: {e}", path.display()))
}
