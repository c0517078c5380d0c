//! What the appliance keeps on disk: its credential (mode 0600), the assets it protects with
//! their policies, and when each policy runs next.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use model::appliance::{AssetInfo, CopyTarget};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credential {
    pub portal: String,
    pub appliance_id: i64,
    pub credential: String,
}

pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn open(root: PathBuf) -> Result<DataDir, String> {
        std::fs::create_dir_all(&root).map_err(|e| format!("data directory {}: {e}", root.display()))?;
        Ok(DataDir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn credential_path(&self) -> PathBuf {
        self.root.join("credential.json")
    }

    fn assets_path(&self) -> PathBuf {
        self.root.join("assets.json")
    }

    fn schedule_path(&self) -> PathBuf {
        self.root.join("schedule.json")
    }

    /// Holds the target's keys and repository password, so it is private like the credential.
    fn copy_target_path(&self) -> PathBuf {
        self.root.join("copy-target.json")
    }

    pub fn credential(&self) -> Result<Option<Credential>, String> {
        match std::fs::read_to_string(self.credential_path()) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("credential file: {e}")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("credential file: {e}")),
        }
    }

    /// Writes the credential readable by the owner only.
    pub fn save_credential(&self, credential: &Credential) -> Result<(), String> {
        let text = serde_json::to_string_pretty(credential).map_err(|e| e.to_string())?;
        write_private(&self.credential_path(), text.as_bytes())
    }

    pub fn forget_credential(&self) -> Result<(), String> {
        match std::fs::remove_file(self.credential_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("credential file: {e}")),
            _ => Ok(()),
        }
    }

    pub fn assets(&self) -> Vec<AssetInfo> {
        std::fs::read_to_string(self.assets_path())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn asset(&self, id: &str) -> Result<AssetInfo, String> {
        self.assets()
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| "No such asset on this appliance.".to_owned())
    }

    pub fn save_assets(&self, assets: &[AssetInfo]) -> Result<(), String> {
        let text = serde_json::to_string_pretty(assets).map_err(|e| e.to_string())?;
        write_private(&self.assets_path(), text.as_bytes())
    }
}

impl DataDir {
    /// The next run of each asset's policy (Unix ms), kept so runs missed while the appliance
    /// was off are noticed when it starts.
    pub fn schedule_state(&self) -> HashMap<String, i64> {
        std::fs::read_to_string(self.schedule_path())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn save_schedule_state(&self, due: &HashMap<String, i64>) -> Result<(), String> {
        let text = serde_json::to_string_pretty(due).map_err(|e| e.to_string())?;
        write_private(&self.schedule_path(), text.as_bytes())
    }
}

impl DataDir {
    /// Where recovery points are copied, if anywhere.
    pub fn copy_target(&self) -> Result<Option<CopyTarget>, String> {
        match std::fs::read_to_string(self.copy_target_path()) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("copy target file: {e}")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("copy target file: {e}")),
        }
    }

    pub fn save_copy_target(&self, target: Option<&CopyTarget>) -> Result<(), String> {
        match target {
            Some(target) => {
                let text = serde_json::to_string_pretty(target).map_err(|e| e.to_string())?;
                write_private(&self.copy_target_path(), text.as_bytes())
            }
            None => match std::fs::remove_file(self.copy_target_path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("copy target file: {e}")),
                _ => Ok(()),
            },
        }
    }
}

impl DataDir {
    /// Where restore tests restore to (emptied after each) and remember when they ran.
    pub fn restore_tests(&self) -> PathBuf {
        self.root.join("restore-tests")
    }

    /// When the asset's restore was last tested (Unix ms), whatever the outcome; before its
    /// first test, when its first backup ended (the week counts from there).
    pub fn restore_tested_at(&self, asset_id: &str) -> Option<i64> {
        std::fs::read_to_string(self.restore_tests().join(format!("{asset_id}.last")))
            .ok()
            .and_then(|text| text.trim().parse().ok())
    }

    /// One file per asset: restore tests of different assets may end at the same time.
    pub fn save_restore_tested_at(&self, asset_id: &str, at: i64) -> Result<(), String> {
        let dir = self.restore_tests();
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        write_private(&dir.join(format!("{asset_id}.last")), at.to_string().as_bytes())
    }
}

/// Writes through a temporary file and a rename, so a crash never leaves half a file.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&temporary)
        .map_err(|e| format!("{}: {e}", temporary.display()))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(|e| format!("{}: {e}", temporary.display()))?;
    std::fs::rename(&temporary, path).map_err(|e| format!("{}: {e}", path.display()))
}
