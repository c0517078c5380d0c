//! The two cargo builds: the server binary for the host and the app's library for the browser,
//! with the environment cargo-leptos gives them, so artifacts are shared with `cargo leptos build`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use crate::Mode;
use crate::config::Site;

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

#[derive(Clone, Copy)]
enum Target {
    Browser,
    Server,
}

/// Where the browser build goes: its own target directory, as cargo-leptos does, because its
/// `RUSTFLAGS` differ and would otherwise rebuild the host's dependencies each time.
pub fn front_target_dir(root: &Path) -> PathBuf {
    root.join("target").join("front")
}

/// The wasm the browser build leaves, before wasm-bindgen.
pub fn front_wasm(root: &Path, site: &Site, mode: Mode) -> PathBuf {
    let profile = match mode {
        Mode::Debug => "debug".to_string(),
        Mode::Release => site
            .lib_profile_release
            .clone()
            .unwrap_or_else(|| "release".into()),
    };
    front_target_dir(root)
        .join(WASM_TARGET)
        .join(profile)
        .join(format!("{}.wasm", site.lib_package.replace('-', "_")))
}

pub fn server_exe(root: &Path, site: &Site, mode: Mode) -> PathBuf {
    let profile = match mode {
        Mode::Debug => "debug",
        Mode::Release => "release",
    };
    root.join("target").join(profile).join(&site.bin_target)
}

pub fn spawn_front(root: &Path, site: &Site, mode: Mode) -> std::io::Result<Child> {
    let mut command = cargo(root, site, mode, Target::Browser);
    command
        .arg(format!("--package={}", site.lib_package))
        .arg("--lib")
        .arg(format!("--target={WASM_TARGET}"))
        .arg(format!("--target-dir={}", front_target_dir(root).display()))
        .arg("--no-default-features");
    match (mode, &site.lib_profile_release) {
        (Mode::Debug, _) => {}
        (Mode::Release, Some(profile)) => {
            command.arg(format!("--profile={profile}"));
        }
        (Mode::Release, None) => {
            command.arg("--release");
        }
    }
    command.spawn()
}

pub fn spawn_server(root: &Path, site: &Site, mode: Mode) -> std::io::Result<Child> {
    let mut command = cargo(root, site, mode, Target::Server);
    command
        .arg(format!("--package={}", site.bin_package))
        .arg(format!("--bin={}", site.bin_target))
        .arg("--no-default-features");
    if mode == Mode::Release {
        command.arg("--release");
    }
    command.spawn()
}

/// `cargo build` with the variables Leptos reads while compiling. Component types are erased
/// (`--cfg erase_components`) in every build: it keeps the server's link time sane and makes the
/// release wasm a third smaller (cargo-leptos: `always-erase-components`). The browser build
/// also keeps its relocations, which splitting the wasm at lazy routes needs.
fn cargo(root: &Path, site: &Site, mode: Mode, target: Target) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root).arg("build");
    command.envs([
        ("LEPTOS_OUTPUT_NAME", site.name.clone()),
        ("LEPTOS_SITE_ROOT", site.site_root.display().to_string()),
        ("LEPTOS_SITE_PKG_DIR", site.site_pkg_dir.display().to_string()),
        ("LEPTOS_SITE_ADDR", site.site_addr.clone()),
        ("LEPTOS_RELOAD_PORT", site.reload_port.to_string()),
        ("LEPTOS_LIB_DIR", site.lib_package.clone()),
        ("LEPTOS_BIN_DIR", site.bin_package.clone()),
        ("LEPTOS_JS_MINIFY", (mode == Mode::Release).to_string()),
        ("LEPTOS_HASH_FILES", "false".to_string()),
    ]);
    let flags = match target {
        Target::Browser => "--cfg erase_components -Clink-args=--emit-relocs",
        Target::Server => "--cfg erase_components",
    };
    command.env("RUSTFLAGS", flags);
    command
}
