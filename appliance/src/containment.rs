//! Where a restore may write. A restore writes only into the appliance's restore roots
//! (`--restore-root`) or in place over the asset's own directory, and never through a symbolic
//! link: not one on the way to the target, not one already inside it, not one the recovery
//! point itself brings along with files "under" it.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

/// The part of `path` that exists, with its symbolic links resolved, followed by the part that
/// does not exist yet (which cannot hold a link).
fn resolved(path: &Path) -> Result<PathBuf, String> {
    let mut existing = path;
    let mut missing = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(real) => {
                return Ok(missing.iter().rev().fold(real, |real, part| real.join(part)));
            }
            Err(_) => {
                let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
                    return Err(format!("{}: no part of this path exists", path.display()));
                };
                missing.push(name.to_owned());
                existing = parent;
            }
        }
    }
}

/// Checks that `target` is a plain absolute directory inside a restore root or the asset's own
/// directory, both as written and once the links on the way are followed.
pub fn check_target(target: &Path, roots: &[PathBuf], asset_path: &Path) -> Result<(), String> {
    let text = |p: &Path| p.display().to_string();
    let root_texts: Vec<String> = roots.iter().map(|r| text(r)).collect();
    model::appliance::check_restore_target(&text(target), &root_texts, &text(asset_path))?;
    let real_target = resolved(target)?;
    let bases = roots.iter().map(PathBuf::as_path).chain([asset_path]);
    for base in bases {
        if let Ok(real_base) = resolved(base)
            && real_target.starts_with(&real_base)
        {
            return Ok(());
        }
    }
    Err(format!(
        "{} leads through a symbolic link to {}, outside the restore folders.",
        target.display(),
        real_target.display()
    ))
}

/// Checks the paths a recovery point restores (relative to the restore's destination, each
/// with whether it is a symbolic link): every component plain, and nothing beneath a link.
pub fn check_entries<'a>(entries: impl Iterator<Item = (&'a Path, bool)> + Clone) -> Result<(), String> {
    let links: HashSet<&Path> = entries
        .clone()
        .filter(|(_, link)| *link)
        .map(|(p, _)| p)
        .collect();
    for (path, _) in entries {
        if !path.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(format!(
                "the recovery point holds the path {:?}, which would leave the target; nothing was restored.",
                path.display().to_string()
            ));
        }
        if let Some(link) = path.ancestors().skip(1).find(|a| links.contains(a)) {
            return Err(format!(
                "the recovery point holds {} beneath the symbolic link {}; restoring it could write outside the target, so nothing was restored.",
                path.display(),
                link.display()
            ));
        }
    }
    Ok(())
}

/// Checks that writing `relative` under `target` passes through no symbolic link already on
/// disk (the target itself was checked by [`check_target`]).
pub fn check_on_disk(target: &Path, relative: &Path) -> Result<(), String> {
    let mut path = target.to_path_buf();
    for part in relative.components() {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!(
                    "{} is a symbolic link; a restore never writes through one. Remove it or restore elsewhere; nothing was restored.",
                    path.display()
                ));
            }
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "bp-containment-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.canonicalize().unwrap()
    }

    #[test]
    fn targets_stay_inside_the_roots_or_the_asset_as_written_and_as_resolved() {
        let dir = scratch();
        let roots = vec![dir.join("restores")];
        let asset = dir.join("data");
        std::fs::create_dir_all(&roots[0]).unwrap();
        std::fs::create_dir_all(&asset).unwrap();
        let outside = dir.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        assert!(check_target(&roots[0].join("new/deep"), &roots, &asset).is_ok());
        assert!(
            check_target(&asset.join("reports"), &roots, &asset).is_ok(),
            "in place"
        );
        assert!(check_target(&outside, &roots, &asset).is_err());
        assert!(check_target(Path::new("/root/.ssh"), &roots, &asset).is_err());
        assert!(check_target(&roots[0].join("../outside"), &roots, &asset).is_err());

        symlink(&outside, roots[0].join("escape")).unwrap();
        let refused = check_target(&roots[0].join("escape/x"), &roots, &asset).unwrap_err();
        assert!(refused.contains("symbolic link"), "{refused}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_recovery_point_may_not_put_files_beneath_its_own_links() {
        let entries = [
            (Path::new("docs"), false),
            (Path::new("docs/a.txt"), false),
            (Path::new("link"), true),
            (Path::new("link/authorized_keys"), false),
        ];
        let refused = check_entries(entries.iter().map(|(p, l)| (*p, *l))).unwrap_err();
        assert!(
            refused.contains("link/authorized_keys") && refused.contains("beneath"),
            "{refused}"
        );
        let fine = [(Path::new("docs"), false), (Path::new("link"), true)];
        assert!(check_entries(fine.iter().map(|(p, l)| (*p, *l))).is_ok());
        let climbing = [(Path::new("../../etc/passwd"), false)];
        assert!(check_entries(climbing.iter().map(|(p, l)| (*p, *l))).is_err());
    }

    #[test]
    fn links_already_inside_the_target_are_never_written_through() {
        let dir = scratch();
        let target = dir.join("target");
        std::fs::create_dir_all(target.join("docs")).unwrap();
        let outside = dir.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        symlink(&outside, target.join("docs/reports")).unwrap();
        assert!(check_on_disk(&target, Path::new("docs/a.txt")).is_ok());
        assert!(check_on_disk(&target, Path::new("docs/new/b.txt")).is_ok());
        let refused = check_on_disk(&target, Path::new("docs/reports/q3.txt")).unwrap_err();
        assert!(refused.contains("docs/reports"), "{refused}");
        symlink(outside.join("file"), target.join("docs/file.txt")).unwrap();
        assert!(
            check_on_disk(&target, Path::new("docs/file.txt")).is_err(),
            "nor a file link"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
