//! Saving and reloading models (`--anomaly-model-dir`): one JSON file per model kind, written
//! to a temporary name and renamed, so a crash mid-write leaves the previous file. A file that
//! does not parse, has another format version or does not fit the code's features is an error
//! for the caller to report and relearn from; it is never fatal.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The format of saved models; a file with another version is not loaded.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT: &str = "wardwatch-anomaly-model";

/// A saved model with what the metrics report about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Saved<M> {
    pub format: String,
    pub format_version: u32,
    /// `network` or `vitals`.
    pub model: String,
    /// How many times the model was trained.
    pub version: u64,
    /// Packet time of the last training (Unix seconds).
    pub last_training_s: u64,
    pub training_windows: u64,
    pub body: M,
}

impl<M> Saved<M> {
    pub fn new(model: &str, version: u64, last_training_s: u64, training_windows: u64, body: M) -> Self {
        Self {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            model: model.into(),
            version,
            last_training_s,
            training_windows,
            body,
        }
    }
}

pub fn path(dir: &Path, model: &str) -> PathBuf {
    dir.join(format!("{model}.json"))
}

pub fn save<M: Serialize>(dir: &Path, saved: &Saved<M>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let target = path(dir, &saved.model);
    let temporary = dir.join(format!(".{}.json.tmp", saved.model));
    std::fs::write(&temporary, serde_json::to_vec(saved)?)?;
    std::fs::rename(&temporary, &target)?;
    Ok(())
}

/// The saved `model` in `dir`: `Ok(None)` when there is none, an error when there is one that
/// cannot be used (`valid` checks the body against the code's features).
pub fn load<M: DeserializeOwned>(
    dir: &Path,
    model: &str,
    valid: impl Fn(&M) -> bool,
) -> anyhow::Result<Option<Saved<M>>> {
    let file = path(dir, model);
    let bytes = match std::fs::read(&file) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    // The header first, so that a file of another version says so rather than failing to parse.
    #[derive(Deserialize)]
    struct Header {
        format: String,
        format_version: u32,
    }
    let header: Header = serde_json::from_slice(&bytes)?;
    if header.format != FORMAT || header.format_version != FORMAT_VERSION {
        anyhow::bail!(
            "{}: format {} version {}, expected {FORMAT} version {FORMAT_VERSION}",
            file.display(),
            header.format,
            header.format_version
        );
    }
    let saved: Saved<M> = serde_json::from_slice(&bytes)?;
    if saved.model != model || !valid(&saved.body) {
        anyhow::bail!("{}: the model does not fit this exporter's features", file.display());
    }
    Ok(Some(saved))
}
