//! The appliance's restic-format repository, written with rustic_core: encrypted,
//! deduplicated and incremental, so the stock `restic` tool can list and restore everything
//! (`restic -r <data-dir>/repository --password-file <data-dir>/repository.password snapshots`).
//!
//! Every call here blocks; the agent runs backups and restores in a worker process it can kill.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::collections::BTreeMap;

use model::appliance::{AssetInfo, CopyLocation, CopyTarget, RecoveryPointInfo};
use model::policy::Retention;
use rustic_backend::BackendOptions;
use rustic_core::jiff;
use rustic_core::repofile::{MasterKey, Node};
use rustic_core::{
    BackupOptions, CheckOptions, ConfigOptions, Credentials, KeepOptions, KeyOptions, LocalDestination,
    LsOptions, OpenStatus, PathList, Progress, ProgressBars, ProgressType, PruneOptions, ReadSubsetOption,
    Repository, RepositoryOptions, RestoreOptions, RusticProgress, SnapshotOptions,
};

use sha2::{Digest, Sha256};

use crate::containment;
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
    /// Whether it built on an earlier recovery point of the asset (otherwise it was full).
    pub incremental: bool,
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

    /// Opens (or creates) the repository. The master key is kept beside the password, which
    /// grants the same access: opening with it skips scrypt's key derivation, which took most
    /// of a small incremental backup's time. A key that no longer opens the repository (it was
    /// created anew) is derived again from the password.
    fn open(&self, counters: Arc<Counters>) -> Result<Repository<OpenStatus>, String> {
        let name = self.dir.display().to_string();
        let backends = BackendOptions::default().repository(format!("local:{name}"));
        let cache = self.dir.with_file_name("repository.key");
        if let Some(key) = std::fs::read(&cache)
            .ok()
            .and_then(|json| serde_json::from_slice::<MasterKey>(&json).ok())
        {
            match open_existing(&name, &backends, Credentials::Masterkey(key), counters.clone()) {
                Ok(Some(repository)) => return Ok(repository),
                Ok(None) | Err(_) => {
                    let _ = std::fs::remove_file(&cache);
                }
            }
        }
        let repository = open_or_init(&name, &backends, &self.password, counters)?;
        if let Ok(json) = serde_json::to_vec(&repository.key())
            && let Err(error) = write_private(&cache, &json)
        {
            log::warn!("the repository key cannot be kept ({error}); the next open derives it again");
        }
        Ok(repository)
    }

    /// Backs up the asset's directory as a new snapshot (incremental against its last one).
    #[cfg(test)]
    pub fn backup(
        &self,
        asset: &AssetInfo,
        host: &str,
        counters: Arc<Counters>,
    ) -> Result<BackupSummary, String> {
        self.backup_at(asset, host, jiff::Zoned::now(), counters)
    }

    /// A backup whose recovery point carries `time` (its zone decides which day, week or month
    /// retention counts it in).
    pub fn backup_at(
        &self,
        asset: &AssetInfo,
        host: &str,
        time: jiff::Zoned,
        counters: Arc<Counters>,
    ) -> Result<BackupSummary, String> {
        let fail = |e: Box<rustic_core::RusticError>| format!("backup of {}: {e}", asset.path);
        let repository = self.open(counters)?.to_indexed_ids().map_err(fail)?;
        let snapshot = SnapshotOptions::default()
            .label(format!("backplane {}", asset.id))
            .host(host.to_owned())
            .time(time)
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
            incremental: snapshot.parent.is_some(),
        })
    }

    /// Forgets the asset's recovery points that `retention` does not keep (restic's `forget`
    /// rules) and prunes the data only they used; returns how many were forgotten. Prune keeps
    /// removed packs for a while before deleting them, so a backup running at the same time
    /// never loses data it deduplicated against.
    pub fn apply_retention(
        &self,
        asset: &AssetInfo,
        retention: &Retention,
        counters: Arc<Counters>,
    ) -> Result<usize, String> {
        let fail = |e: Box<rustic_core::RusticError>| format!("retention for {}: {e}", asset.path);
        forget_and_prune(&self.open(counters)?, &asset_tag(&asset.id), retention).map_err(fail)
    }

    /// Copies the asset's recovery points that the target lacks (a point already there, even
    /// from an interrupted earlier run, is not copied twice), then applies the target's own
    /// retention to the asset's copies there.
    pub fn copy_to(
        &self,
        asset: &AssetInfo,
        target: &CopyTarget,
        counters: Arc<Counters>,
    ) -> Result<CopySummary, String> {
        let where_to = target.location.describe();
        let fail = |e: Box<rustic_core::RusticError>| format!("copy of {} to {where_to}: {e}", asset.path);
        let source = self.open(counters.clone())?.to_indexed().map_err(fail)?;
        let tag = asset_tag(&asset.id);
        let ours: Vec<_> = source
            .get_all_snapshots()
            .map_err(fail)?
            .into_iter()
            .filter(|s| s.tags.iter().any(|t| t == tag.as_str()))
            .collect();
        let destination = open_target(target, counters.clone())?
            .to_indexed_ids()
            .map_err(fail)?;
        let missing: Vec<_> = destination
            .relevant_copy_snapshots(|_| true, &ours)
            .map_err(fail)?
            .into_iter()
            .filter(|copy| copy.relevant)
            .map(|copy| copy.sn)
            .collect();
        if !missing.is_empty() {
            source.copy(&destination, &missing).map_err(fail)?;
        }
        let removed = if target.retention.keeps_everything() {
            0
        } else {
            forget_and_prune(&open_target(target, counters)?, &tag, &target.retention).map_err(fail)?
        };
        Ok(CopySummary {
            copied: missing.len(),
            already_there: ours.len() - missing.len(),
            removed,
        })
    }

    /// Tests a restore of the asset's newest recovery point: restores a random sample of its
    /// files (all of them when they fit `budget` bytes) into `scratch`, compares each restored
    /// file's SHA-256 with that of its content read from the repository, reads about `budget`
    /// bytes of pack data to check it against its hashes, and removes the scratch copy.
    pub fn verify(
        &self,
        asset: &AssetInfo,
        budget: u64,
        scratch: &Path,
        counters: Arc<Counters>,
    ) -> Result<VerifySummary, String> {
        let fail = |e: Box<rustic_core::RusticError>| format!("restore test of {}: {e}", asset.path);
        let repository = self.open(counters.clone())?.to_indexed().map_err(fail)?;
        let tag = asset_tag(&asset.id);
        let newest = repository
            .get_all_snapshots()
            .map_err(fail)?
            .into_iter()
            .filter(|s| s.tags.iter().any(|t| t == tag.as_str()))
            .max_by_key(|s| s.time.timestamp())
            .ok_or_else(|| format!("{} has no recovery point to test yet.", asset.path))?;
        let snapshot_id = newest.id.to_hex().as_str().to_owned();
        let root = repository
            .node_from_snapshot_path(&format!("{snapshot_id}:{}", asset.path), |_| true)
            .map_err(fail)?;
        let mut files: Vec<(PathBuf, Node)> = repository
            .ls(&root, &LsOptions::default())
            .map_err(fail)?
            .filter_map(|entry| entry.ok().filter(|(_, node)| node.is_file()))
            .collect();
        files.sort_by_cached_key(|_| rand::random::<u64>());
        let sample = within_budget(files, budget);
        std::fs::create_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
        let tested = self.restore_and_compare(asset, &repository, &snapshot_id, &sample, scratch, counters);
        let _ = std::fs::remove_dir_all(scratch);
        let (bytes, differing) = tested?;
        let options = CheckOptions::default()
            .read_data(true)
            .read_data_subset(ReadSubsetOption::Size(budget.max(1)));
        let results = self.open(Arc::default())?.check(options).map_err(fail)?;
        let findings = match results.is_ok() {
            Ok(()) => Vec::new(),
            Err(_) => results
                .0
                .iter()
                .map(|(level, error)| format!("{level:?}: {error}"))
                .collect(),
        };
        Ok(VerifySummary {
            snapshot_id,
            files: sample.len(),
            bytes,
            differing,
            check_errors: findings,
        })
    }

    /// Restores the sampled files of the snapshot into `scratch` and names those whose content
    /// differs from the repository's; returns the bytes compared too.
    fn restore_and_compare(
        &self,
        asset: &AssetInfo,
        repository: &Repository<rustic_core::IndexedFullStatus>,
        snapshot_id: &str,
        sample: &[(PathBuf, Node)],
        scratch: &Path,
        counters: Arc<Counters>,
    ) -> Result<(u64, Vec<String>), String> {
        if sample.is_empty() {
            return Ok((0, Vec::new()));
        }
        let paths: Vec<String> = sample
            .iter()
            .map(|(path, _)| path.display().to_string())
            .collect();
        self.restore(asset, snapshot_id, &paths, scratch, false, counters)?;
        let mut bytes = 0;
        let mut differing = Vec::new();
        for (path, node) in sample {
            let mut expected = HashingWriter::default();
            repository
                .dump(node, &mut expected)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let restored = std::fs::read(scratch.join(path)).unwrap_or_default();
            bytes += restored.len() as u64;
            if Sha256::digest(&restored) != expected.0.finalize() {
                differing.push(path.display().to_string());
            }
        }
        Ok((bytes, differing))
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
            paths.iter().map(|p| p.trim_matches('/').to_owned()).collect()
        };
        // Every selection is checked before anything is written.
        let mut nodes = Vec::new();
        for inside in &selections {
            if !Path::new(inside)
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
            {
                return Err(format!("{inside}: paths may not leave the asset."));
            }
            let source = if inside.is_empty() {
                asset.path.clone()
            } else {
                format!("{}/{inside}", asset.path)
            };
            let node = repository
                .node_from_snapshot_path(&format!("{snapshot_id}:{source}"), |_| true)
                .map_err(|e| format!("{inside}: not in this recovery point ({e})"))?;
            let entries: Vec<(PathBuf, bool)> = repository
                .ls(&node, &LsOptions::default())
                .map_err(fail)?
                .map(|entry| entry.map(|(path, node)| (path, node.is_symlink())))
                .collect::<Result<_, _>>()
                .map_err(fail)?;
            containment::check_entries(entries.iter().map(|(path, link)| (path.as_path(), *link)))?;
            containment::check_on_disk(target, Path::new(inside))?;
            for (path, _) in &entries {
                containment::check_on_disk(target, &Path::new(inside).join(path))?;
            }
            nodes.push((inside, node));
        }
        let mut restored = 0;
        for (inside, node) in nodes {
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

/// What a finished restore test reports.
#[derive(Debug, Clone)]
pub struct VerifySummary {
    pub snapshot_id: String,
    pub files: usize,
    pub bytes: u64,
    /// Files whose restored content differs from the repository's.
    pub differing: Vec<String>,
    /// What the partial data check found wrong.
    pub check_errors: Vec<String>,
}

/// The files, in their (random) order, while their sizes add up to `budget`; always at least
/// one, so a large file is still tested.
fn within_budget(files: Vec<(PathBuf, Node)>, budget: u64) -> Vec<(PathBuf, Node)> {
    let mut total = 0u64;
    let mut sample = Vec::new();
    for (path, node) in files {
        let size = node.meta.size;
        if !sample.is_empty() && total.saturating_add(size) > budget {
            continue;
        }
        total = total.saturating_add(size);
        sample.push((path, node));
    }
    sample
}

/// Hashes what is written to it.
#[derive(Default)]
struct HashingWriter(Sha256);

impl std::io::Write for HashingWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a finished copy reports.
#[derive(Debug, Clone, Copy)]
pub struct CopySummary {
    /// Recovery points copied now.
    pub copied: usize,
    /// Recovery points the target already had.
    pub already_there: usize,
    /// Copies the target's retention removed.
    pub removed: usize,
}

/// Opens the repository behind `backends` with `credentials`; `None` when it does not exist.
fn open_existing(
    name: &str,
    backends: &BackendOptions,
    credentials: Credentials,
    counters: Arc<Counters>,
) -> Result<Option<Repository<OpenStatus>>, String> {
    let fail = |e: Box<rustic_core::RusticError>| format!("repository {name}: {e}");
    let repository = unopened(backends, counters).map_err(fail)?;
    if repository.config_id().map_err(fail)?.is_none() {
        return Ok(None);
    }
    repository.open(&credentials).map(Some).map_err(fail)
}

/// Opens the repository behind `backends`, creating it on first use.
fn open_or_init(
    name: &str,
    backends: &BackendOptions,
    password: &str,
    counters: Arc<Counters>,
) -> Result<Repository<OpenStatus>, String> {
    let credentials = Credentials::password(password);
    if let Some(repository) = open_existing(name, backends, credentials.clone(), counters.clone())? {
        return Ok(repository);
    }
    let fail = |e: Box<rustic_core::RusticError>| format!("repository {name}: {e}");
    unopened(backends, counters)
        .and_then(|r| r.init(&credentials, &KeyOptions::default(), &ConfigOptions::default()))
        .map_err(fail)
}

fn unopened(
    backends: &BackendOptions,
    counters: Arc<Counters>,
) -> Result<Repository<()>, Box<rustic_core::RusticError>> {
    let options = RepositoryOptions::default().no_cache(true);
    Repository::new_with_progress(&options, &backends.to_backends()?, Bars(counters))
}

/// Room for the largest pack file a throttled upload writes at once: rustic's packs grow with
/// the repository (32 MiB plus about 1 MiB per square root of its GiB), and a write larger
/// than the burst would fail instead of waiting.
const THROTTLE_BURST: &str = "512MiB";

/// The copy target's repository, created with the target's password on first use.
fn open_target(target: &CopyTarget, counters: Arc<Counters>) -> Result<Repository<OpenStatus>, String> {
    let backends = match &target.location {
        CopyLocation::Path { path } => BackendOptions::default().repository(format!("local:{path}")),
        CopyLocation::S3 {
            endpoint,
            bucket,
            prefix,
            region,
            access_key_id,
            secret_access_key,
        } => {
            let mut options = BTreeMap::from([
                ("endpoint".to_owned(), endpoint.clone()),
                ("bucket".to_owned(), bucket.clone()),
                ("root".to_owned(), format!("/{}", prefix.trim_matches('/'))),
                (
                    "region".to_owned(),
                    if region.is_empty() {
                        "us-east-1".to_owned()
                    } else {
                        region.clone()
                    },
                ),
                ("access_key_id".to_owned(), access_key_id.clone()),
                ("secret_access_key".to_owned(), secret_access_key.clone()),
                // Only the keys given: no credentials from the environment or an instance's
                // metadata service (which a copy would otherwise wait for).
                ("disable_config_load".to_owned(), "true".to_owned()),
                ("disable_ec2_metadata".to_owned(), "true".to_owned()),
            ]);
            if let Some(kib) = target.bandwidth_kib {
                options.insert("throttle".into(), format!("{kib}KiB,{THROTTLE_BURST}"));
            }
            BackendOptions::default()
                .repository("opendal:s3")
                .options(options)
        }
    };
    open_or_init(
        &target.location.describe(),
        &backends,
        &target.repository_password,
        counters,
    )
}

/// Forgets the snapshots tagged `tag` that `retention` does not keep (restic's `forget` rules)
/// and prunes the data only they used; returns how many were forgotten. Prune keeps removed
/// packs for a while before deleting them, so a backup running at the same time never loses
/// data it deduplicated against.
fn forget_and_prune(
    repository: &Repository<OpenStatus>,
    tag: &str,
    retention: &Retention,
) -> Result<usize, Box<rustic_core::RusticError>> {
    let snapshots: Vec<_> = repository
        .get_all_snapshots()?
        .into_iter()
        .filter(|s| s.tags.iter().any(|t| t == tag))
        .collect();
    let count = |n: Option<u32>| n.filter(|n| *n > 0).map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    let keep = KeepOptions::default()
        .keep_last(count(retention.keep_last))
        .keep_daily(count(retention.keep_daily))
        .keep_weekly(count(retention.keep_weekly))
        .keep_monthly(count(retention.keep_monthly))
        .keep_yearly(count(retention.keep_yearly));
    let forget: Vec<_> = keep
        .apply(snapshots, &jiff::Zoned::now())?
        .into_iter()
        .filter(|s| !s.keep)
        .map(|s| s.snapshot.id)
        .collect();
    if forget.is_empty() {
        return Ok(0);
    }
    repository.delete_snapshots(&forget)?;
    let options = PruneOptions::default();
    let plan = repository.prune_plan(&options)?;
    repository.prune(&options, plan)?;
    Ok(forget.len())
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
            policy: None,
        };
        let repo = Repo::locate(&DataDir::open(root.join("data")).unwrap()).unwrap();

        let first = repo.backup(&asset, "test", Arc::default()).unwrap();
        assert!(!first.incremental, "the first backup is full");
        let after_first = directory_bytes(&root.join("data/repository"));
        assert!(after_first >= 8 << 20, "all 8 MiB stored: {after_first}");
        std::fs::write(source.join("part-0.bin"), random_bytes(2 << 20)).unwrap();
        let second = repo.backup(&asset, "test", Arc::default()).unwrap();
        assert!(second.incremental, "the second builds on the first");
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

    #[test]
    fn the_master_key_is_kept_private_and_a_wrong_one_falls_back_to_the_password() {
        let root =
            std::env::temp_dir().join(format!("bp-key-{}-{}", std::process::id(), rand::random::<u32>()));
        let asset = temporary_asset(&root, "docs");
        std::fs::write(Path::new(&asset.path).join("file"), b"first").unwrap();
        let data = DataDir::open(root.join("data")).unwrap();
        let repo = Repo::locate(&data).unwrap();
        repo.backup(&asset, "test", Arc::default()).unwrap();
        let cache = root.join("data/repository.key");
        let kept = std::fs::read(&cache).expect("the key is kept after the first open");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "private like the password");
        }
        // With the kept key, without the password: the key alone opens the repository.
        let keyless = Repo {
            password: "not the password".into(),
            ..Repo::locate(&data).unwrap()
        };
        assert_eq!(keyless.recovery_points().unwrap().len(), 1);

        // Another repository's key (one made anew) is dropped and derived again.
        let other = root.join("other");
        let elsewhere = Repo::locate(&DataDir::open(other.clone()).unwrap()).unwrap();
        elsewhere.backup(&asset, "test", Arc::default()).unwrap();
        std::fs::copy(other.join("repository.key"), &cache).unwrap();
        assert_ne!(std::fs::read(&cache).unwrap(), kept);
        assert_eq!(
            repo.recovery_points().unwrap().len(),
            1,
            "opened with the password"
        );
        assert_eq!(std::fs::read(&cache).unwrap(), kept, "its own key is kept again");
        std::fs::write(&cache, b"garbage").unwrap();
        assert_eq!(repo.recovery_points().unwrap().len(), 1);
        std::fs::remove_dir_all(&root).unwrap();
    }

    fn temporary_asset(root: &Path, id: &str) -> AssetInfo {
        let source = root.join(id);
        std::fs::create_dir_all(&source).unwrap();
        AssetInfo {
            id: id.into(),
            name: id.into(),
            path: source.display().to_string(),
            policy: None,
        }
    }

    /// Backs up `asset` (changed each time) at each "YYYY-MM-DD HH:MM" in Berlin; returns the
    /// recovery point ids in the same order.
    fn backups_at(repo: &Repo, asset: &AssetInfo, times: &[&str]) -> Vec<String> {
        times
            .iter()
            .map(|time| {
                std::fs::write(Path::new(&asset.path).join("file"), time.as_bytes()).unwrap();
                let at = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", time)
                    .unwrap()
                    .in_tz("Europe/Berlin")
                    .unwrap();
                repo.backup_at(asset, "test", at, Arc::default())
                    .unwrap()
                    .snapshot_id
            })
            .collect()
    }

    fn kept(repo: &Repo, asset: &AssetInfo) -> Vec<String> {
        let mut points: Vec<RecoveryPointInfo> = repo
            .recovery_points()
            .unwrap()
            .into_iter()
            .filter(|p| p.asset_id == asset.id)
            .collect();
        points.sort_by_key(|p| p.time);
        points.into_iter().map(|p| p.id).collect()
    }

    #[test]
    fn retention_keeps_exactly_what_restics_rules_keep_for_that_asset_only() {
        let root = std::env::temp_dir().join(format!(
            "bp-retention-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let asset = temporary_asset(&root, "documents");
        let other = temporary_asset(&root, "mail");
        let repo = Repo::locate(&DataDir::open(root.join("data")).unwrap()).unwrap();
        let ids = backups_at(
            &repo,
            &asset,
            &[
                "2026-01-05 09:00", // 0 Monday
                "2026-01-05 18:00", // 1 same day, later
                "2026-01-06 09:00", // 2
                "2026-01-07 09:00", // 3
                "2026-01-07 23:30", // 4 still the 7th in Berlin (22:30 UTC)
                "2026-01-08 09:00", // 5
            ],
        );
        let others = backups_at(&repo, &other, &["2026-01-05 10:00", "2026-01-06 10:00"]);

        // Daily 3: the last point of each of the 3 newest days (8th, 7th, 6th); last 1 adds nothing.
        let retention = Retention {
            keep_last: Some(1),
            keep_daily: Some(3),
            ..Retention::default()
        };
        assert_eq!(
            repo.apply_retention(&asset, &retention, Arc::default()).unwrap(),
            3
        );
        assert_eq!(
            kept(&repo, &asset),
            [ids[2].clone(), ids[4].clone(), ids[5].clone()]
        );
        assert_eq!(
            kept(&repo, &other),
            others,
            "another asset's points are untouched"
        );

        // Keep last 2 of what is left.
        let last_two = Retention {
            keep_last: Some(2),
            ..Retention::default()
        };
        assert_eq!(
            repo.apply_retention(&asset, &last_two, Arc::default()).unwrap(),
            1
        );
        assert_eq!(kept(&repo, &asset), [ids[4].clone(), ids[5].clone()]);

        // What is kept still restores after the prune.
        let target = root.join("restored");
        std::fs::create_dir_all(&target).unwrap();
        repo.restore(&asset, &ids[4], &[], &target, false, Arc::default())
            .unwrap();
        assert_eq!(std::fs::read(target.join("file")).unwrap(), b"2026-01-07 23:30");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
