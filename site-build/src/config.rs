//! The site's layout, read from `[[workspace.metadata.leptos]]` in the workspace's Cargo.toml:
//! the same table `cargo leptos` reads, so both tools build the same site.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Site {
    /// The base name of the JavaScript, wasm and CSS files (`LEPTOS_OUTPUT_NAME`).
    pub name: String,
    pub bin_package: String,
    pub bin_target: String,
    pub lib_package: String,
    pub site_root: PathBuf,
    pub site_pkg_dir: PathBuf,
    pub style_file: PathBuf,
    pub assets_dir: PathBuf,
    pub site_addr: String,
    pub reload_port: u16,
    #[serde(default)]
    pub lib_profile_release: Option<String>,
}

#[derive(Deserialize)]
struct Manifest {
    workspace: Workspace,
}

#[derive(Deserialize)]
struct Workspace {
    metadata: Metadata,
}

#[derive(Deserialize)]
struct Metadata {
    leptos: Vec<Site>,
}

impl Site {
    /// Reads the first (only) site of the workspace whose root is `root`.
    pub fn read(root: &Path) -> Result<Site, String> {
        let path = root.join("Cargo.toml");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let manifest: Manifest = toml::from_str(&text)
            .map_err(|e| format!("{}: [[workspace.metadata.leptos]]: {e}", path.display()))?;
        manifest
            .workspace
            .metadata
            .leptos
            .into_iter()
            .next()
            .ok_or_else(|| format!("{}: no [[workspace.metadata.leptos]] table", path.display()))
    }

    pub fn pkg_dir(&self, root: &Path) -> PathBuf {
        root.join(&self.site_root).join(&self.site_pkg_dir)
    }
}
