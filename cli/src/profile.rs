//! Profiles: where a Hookline is and the API key to use there, kept in the user's config
//! directory (`hookline login`), chosen with `--profile`, overridden by `HOOKLINE_URL`
//! and `HOOKLINE_API_KEY`.

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// One Hookline and a key for it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The base URL (`http://127.0.0.1:8080`, or a stack's API URL).
    pub url: String,
    /// An org API key.
    pub api_key: String,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The config file: profiles by name.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// `$HOOKLINE_CONFIG`, else `$XDG_CONFIG_HOME/hookline/config.json`, else
/// `~/.config/hookline/config.json`.
pub fn config_path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("HOOKLINE_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").context("neither XDG_CONFIG_HOME nor HOME is set")?).join(".config")
        }
    };
    Ok(base.join("hookline").join("config.json"))
}

fn read() -> anyhow::Result<ConfigFile> {
    let path = config_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("{} is not a profile file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Keep `profile` as `name`, readable by the user alone.
pub fn save(name: &str, profile: Profile) -> anyhow::Result<PathBuf> {
    let mut file = read()?;
    file.profiles.insert(name.to_owned(), profile);
    let path = config_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&file)?;
    // Written beside and renamed, so a crash never leaves half a file; 0600 from the start.
    let tmp = path.with_extension("json.tmp");
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The profile to use: `name` (else `$HOOKLINE_PROFILE`, else `default`) from the file,
/// with `HOOKLINE_URL` and `HOOKLINE_API_KEY` over it.
pub fn resolve(name: Option<&str>) -> anyhow::Result<Profile> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let chosen = name.map(str::to_owned).or_else(|| env("HOOKLINE_PROFILE"));
    let file = read()?;
    let stored = match &chosen {
        Some(n) => Some(file.profiles.get(n).cloned().ok_or_else(|| {
            anyhow::anyhow!("no profile named `{n}`: run `hookline login --profile {n} --url URL --api-key KEY`")
        })?),
        None => file.profiles.get(DEFAULT_PROFILE).cloned(),
    };
    let url = env("HOOKLINE_URL").or_else(|| stored.as_ref().map(|p| p.url.clone()));
    let api_key = env("HOOKLINE_API_KEY").or_else(|| stored.as_ref().map(|p| p.api_key.clone()));
    match (url, api_key) {
        (Some(url), Some(api_key)) => Ok(Profile { url: url.trim_end_matches('/').to_owned(), api_key }),
        _ => anyhow::bail!(
            "no profile: run `hookline login --url URL --api-key KEY`, or set HOOKLINE_URL and HOOKLINE_API_KEY"
        ),
    }
}
