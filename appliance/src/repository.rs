//! The appliance's restic-format repository, written with rustic_core: encrypted,
//! deduplicated and incremental, so the stock `restic` tool can list and restore everything
//! (`restic -r <data-dir>/repository --password-file <data-dir>/repository.password snapshots`).
//!
//! Every call here blocks; the agent runs backups and restores in a worker process it can kill.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use model::appliance::{AssetInfo, RecoveryPointInfo};
use rustic_backend::BackendOptions;
use rustic_core::{
    BackupOptions, ConfigOptions, Credentials, KeyOptions, LocalDestination, LsOptions, OpenStatus, PathList,
    Progress, ProgressBars, ProgressType, Repository, RepositoryOptions, RestoreOptions, RusticProgress,
    SnapshotOptions,
};

use crate::state::{DataDir, write_private};

/// The tag that ties a snapshot to its asset.
fn asset_tag(asset_id: &str) -> String {
    format!("backplane-asset:{asset_id}")
}

/// Bytes done and total of the running operation, shared with whoever reports progress.
#[derive(Debug, Default)]
pub struct Counters {
    pub done: AtomicU64,
    pub total: AtomicU64,
}

#[derive(Debug, Clone, Default)]
struct Bars(Arc<Counters>);

#[derive(Debug)]
struct Bar {
    counters: Arc<Counters>,
    tracked: bool,
}

impl RusticProgress for Bar {
    fn is_hidden(&self) -> bool {
        // Visible bars make rustic measure the total size up front, which gives percent and ETA.
        !self.tracked
    }
    fn set_length(&self, len: u64) {
        if self.tracked {
            self.counters.total.store(len, Ordering::Relaxed);
        }
    }
    fn set_title(&self, _title: &str) {}
    fn inc(&self, inc: u64) {
        if self.tracked {
            self.counters.done.fetch_add(inc, Ordering::Relaxed);
        }
    }
    fn finish(&self) {}
}

impl ProgressBars for Bars {
    fn progress(&self, progress_type: ProgressType, _prefix: &str) -> Progress {
        let tracked = matches!(progress_type, ProgressType::Bytes);
        if tracked {
            self.0.done.store(0, Ordering::Relaxed);
            self.0.total.store(0, Ordering::Relaxed);
        }
        Progress::new(Bar {
            counters: self.0.clone(),
            tracked,
        })
    }
}

pub struct Repo {
    dir: PathBuf,
    password: String,
}

/// What a finished backup reports.
#[derive(Debug, Clone)]
pub struct BackupSummary {
    pub snapshot_id: String,
    pub files: u64,
    pub bytes: u64,
    pub bytes_added: u64,
}

impl Repo {
    /// The repository in the data directory, with its password file (created on first use, 0600).
    pub fn locate(data: &DataDir) -> Result<Repo, String> {
        let password_file = data.root().join("repository.password");
        let password = match std::fs::read_to_string(&password_file) {
            Ok(p) => p.trim().to_owned(),
            Err(_) => {
                let password = format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>());
                write_private(&password_file, password.as_bytes())?;
                password
            }
        };
        Ok(Repo {
            dir: data.root().join("repository"),
            password,
        })
    }

    fn open(&self, counters: Arc<Counters>) -> Result<Repository<OpenStatus>, String> {
        let fail = |e: Box<rustic_core::RusticError>| format!("repository {}: {e}", self.dir.display());
        let backends = BackendOptions::default()
            .repository(format!("local:{}", self.dir.display()))
            .to_backends()
            .map_err(fail)?;
        let options = RepositoryOptions::default().no_cache(true);
        let repository = Repository::new_with_progress(&options, &backends, Bars(counters)).map_err(fail)?;
        let credentials = Credentials::password(&self.password);
        if repository.config_id().map_err(fail)?.is_some() {
            repository.open(&credentials).map_err(fail)
        } else {
            repository
                .init(&credentials, &KeyOptions::default(), &ConfigOptions::default())
                .map_err(fail)
        }
    }

    /// Backs up the asset's directory as a new snapshot (incremental against its last one).
    pub fn backup(
        &self,
        asset: &AssetInfo,
        host: &str,
        counters: Arc<Counters>,
    ) -> Result<BackupSummary, String> {
        let fail = |e: Box<rustic_core::RusticError>| format!("backup of {}: {e}", asset.path);
        let repository = self.open(counters)?.to_indexed_ids().map_err(fail)?;
        let snapshot = SnapshotOptions::default()
            .label(format!("backplane {}", asset.id))
            .host(host.to_owned())
            .add_tags(&asset_tag(&asset.id))
            .map_err(fail)?
            .to_snapshot()
            .map_err(fail)?;
        let source = PathList::from_string(&asset.path)
            .map_err(fail)?
            .sanitize()
            .map_err(|e| format!("backup of {}: {e}", asset.path))?;
        let snapshot = repository
            .backup(&BackupOptions::default(), &source, snapshot)
            .map_err(fail)?;
        let summary = snapshot.summary.unwrap_or_default();
        Ok(BackupSummary {
            snapshot_id: snapshot.id.to_hex().as_str().to_owned(),
            files: summary.total_files_processed,
            bytes: summary.total_bytes_processed,
            bytes_added: summary.data_added,
        })
    }

    /// Every snapshot, as recovery points of the assets they belong to.
    pub fn recovery_points(&self) -> Result<Vec<RecoveryPointInfo>, String> {
        if !self.dir.join("config").exists() {
            return Ok(Vec::new());
        }
        let fail = |e: Box<rustic_core::RusticError>| format!("listing snapshots: {e}");
        let repository = self.open(Arc::default())?;
        let mut snapshots = repository.get_all_snapshots().map_err(fail)?;
        snapshots.sort_unstable();
        Ok(snapshots
            .into_iter()
            .filter_map(|s| {
                let asset_id = s
                    .tags
                    .iter()
                    .find_map(|t| t.strip_prefix("backplane-asset:").map(str::to_owned))?;
                let summary = s.summary.clone().unwrap_or_default();
                Some(RecoveryPointInfo {
                    id: s.id.to_hex().as_str().to_owned(),
                    asset_id,
                    time: s.time.timestamp().as_millisecond(),
                    size_bytes: summary.total_bytes_processed,
                    files: summary.total_files_processed,
                })
            })
            .collect())
    }

    /// Restores `paths` (relative to the asset's directory; all of it when empty) of a snapshot
    /// into `target`. Refuses a non-empty target unless `overwrite`.
    pub fn restore(
        &self,
        asset: &AssetInfo,
        snapshot_id: &str,
        paths: &[String],
        target: &Path,
        overwrite: bool,
        counters: Arc<Counters>,
    ) -> Result<u64, String> {
        let occupied = std::fs::read_dir(target)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if occupied && !overwrite {
            return Err(format!(
                "{} is not empty; choose an empty directory or allow overwriting.",
                target.display()
            ));
        }
        let fail = |e: Box<rustic_core::RusticError>| format!("restore of {snapshot_id}: {e}");
        let repository = self.open(counters)?.to_indexed().map_err(fail)?;
        let selections: Vec<String> = if paths.is_empty() {
            vec![String::new()]
        } else {
            paths.to_vec()
        };
        let mut restored = 0;
        for selection in selections {
            let inside = selection.trim_matches('/');
            if inside.split('/').any(|part| part == "..") {
                return Err(format!("{selection}: paths may not leave the asset."));
            }
            let source = if inside.is_empty() {
                asset.path.clone()
            } else {
                format!("{}/{inside}", asset.path)
            };
            let node = repository
                .node_from_snapshot_path(&format!("{snapshot_id}:{source}"), |_| true)
                .map_err(|e| format!("{selection}: not in this recovery point ({e})"))?;
            let destination = target.join(inside);
            if let Some(parent) = destination.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            let destination_text = destination.display().to_string();
            let local = LocalDestination::new(&destination_text, true, !node.is_dir()).map_err(fail)?;
            let options = RestoreOptions::default();
            let listing = repository.ls(&node, &LsOptions::default()).map_err(fail)?;
            let plan = repository
                .prepare_restore(&options, listing.clone(), &local, false)
                .map_err(fail)?;
            restored += plan.restore_size;
            repository
                .restore(plan, &options, listing, &local)
                .map_err(fail)?;
        }
        Ok(restored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory_bytes(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let meta = entry.metadata().unwrap();
                if meta.is_dir() {
                    directory_bytes(&entry.path())
                } else {
                    meta.len()
                }
            })
            .sum()
    }

    fn random_bytes(len: usize) -> Vec<u8> {
        (0..len).map(|_| rand::random::<u8>()).collect()
    }

    #[test]
    fn a_second_backup_stores_only_what_changed_and_restores_byte_identical() {
        let root = std::env::temp_dir().join(format!(
            "bp-repo-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let source = root.join("source");
        std::fs::create_dir_all(&source).unwrap();
        for i in 0..4 {
            std::fs::write(source.join(format!("part-{i}.bin")), random_bytes(2 << 20)).unwrap();
        }
        let asset = AssetInfo {
            id: "a1".into(),
            name: "source".into(),
            path: source.display().to_string(),
        };
        let repo = Repo::locate(&DataDir::open(root.join("data")).unwrap()).unwrap();

        let first = repo.backup(&asset, "test", Arc::default()).unwrap();
        let after_first = directory_bytes(&root.join("data/repository"));
        assert!(after_first >= 8 << 20, "all 8 MiB stored: {after_first}");
        std::fs::write(source.join("part-0.bin"), random_bytes(2 << 20)).unwrap();
        let second = repo.backup(&asset, "test", Arc::default()).unwrap();
        let growth = directory_bytes(&root.join("data/repository")) - after_first;
        assert!(
            (2 << 20..3 << 20).contains(&growth),
            "only the rewritten 2 MiB are added, grew {growth}"
        );
        assert!(second.bytes_added < first.bytes_added / 3);

        let target = root.join("restored");
        std::fs::create_dir_all(&target).unwrap();
        repo.restore(&asset, &second.snapshot_id, &[], &target, false, Arc::default())
            .unwrap();
        for i in 0..4 {
            let name = format!("part-{i}.bin");
            assert_eq!(
                std::fs::read(target.join(&name)).unwrap(),
                std::fs::read(source.join(&name)).unwrap(),
                "{name}"
            );
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
