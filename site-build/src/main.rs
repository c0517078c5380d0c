//! `site-build [--release]`: builds the portal — the server binary, the wasm and its JavaScript,
//! the stylesheet and static assets — into the site folder the server serves, in the layout
//! `cargo leptos build` produces, without needing cargo-leptos installed (it takes twenty
//! minutes to compile; this tool takes one).

mod cargo;
mod config;
mod front;
mod site;

use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode};
use std::time::Instant;

use config::Site;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Debug,
    Release,
}

/// What to build: debug or release, and whether the server too (`--front-only` builds just what
/// the browser loads, for measuring the wasm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Request {
    mode: Mode,
    server: bool,
}

const USAGE: &str = "usage: site-build [--release] [--front-only]";

fn main() -> ExitCode {
    let request = match parse_request(std::env::args().skip(1)) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("site-build: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match build(&workspace_root(), request) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("site-build: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_request(args: impl Iterator<Item = String>) -> Result<Request, String> {
    let mut request = Request {
        mode: Mode::Debug,
        server: true,
    };
    for arg in args {
        match arg.as_str() {
            "--release" => request.mode = Mode::Release,
            "--front-only" => request.server = false,
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(request)
}

/// This crate sits one level below the workspace root.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn build(root: &Path, request: Request) -> Result<(), String> {
    let Request { mode, server } = request;
    let started = Instant::now();
    let site = Site::read(root)?;
    // Both compilations run at once: each spends long single-threaded stretches linking.
    let front = cargo::spawn_front(root, &site, mode).map_err(|e| format!("cannot run cargo: {e}"))?;
    let server =
        server.then(|| cargo::spawn_server(root, &site, mode).map_err(|e| format!("cannot run cargo: {e}")));
    let front_result = wait("the browser build", front);
    if let Some(server) = server {
        server.and_then(|server| wait("the server build", server))?;
    }
    front_result?;
    let compiled = started.elapsed();

    let site_root = root.join(&site.site_root);
    let pkg_dir = site.pkg_dir(root);
    site::fresh_pkg_dir(&pkg_dir)?;
    let split = front::split(&cargo::front_wasm(root, &site, mode), &site, &pkg_dir)?;
    front::bindgen(&split.main, &site, &pkg_dir)?;
    let mut wasm_files = split.chunks;
    wasm_files.push(pkg_dir.join(format!("{}.wasm", site.name)));
    front::optimise(mode, &wasm_files)?;
    site::copy_style(root, &site, &pkg_dir)?;
    site::copy_assets(&root.join(&site.assets_dir), &site_root)?;
    site::hash_names(&site, &site_root, &pkg_dir)?;
    if mode == Mode::Release {
        for (path, raw, brotli, gzip) in site::precompress(&pkg_dir)? {
            println!("{}: {raw} bytes, brotli {brotli}, gzip {gzip}", path.display());
        }
    }
    println!(
        "site-build: {} in {:.0?} (compiling {:.0?}); run {}",
        site_root.display(),
        started.elapsed(),
        compiled,
        cargo::server_exe(root, &site, mode).display()
    );
    Ok(())
}

fn wait(what: &str, mut child: Child) -> Result<(), String> {
    let status = child.wait().map_err(|e| format!("{what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_choose_the_mode_or_are_refused() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>().into_iter();
        let request = |mode, server| Ok(Request { mode, server });
        assert_eq!(parse_request(args(&[])), request(Mode::Debug, true));
        assert_eq!(parse_request(args(&["--release"])), request(Mode::Release, true));
        assert_eq!(
            parse_request(args(&["--front-only", "--release"])),
            request(Mode::Release, false)
        );
        assert!(parse_request(args(&["--relase"])).is_err());
        assert!(parse_request(args(&["--release", "x"])).is_err());
    }

    #[test]
    fn the_workspace_metadata_names_the_site() {
        let site = Site::read(&workspace_root()).expect("the workspace's [[workspace.metadata.leptos]]");
        assert_eq!(site.name, "backplane");
        assert_eq!(site.lib_package, "frontend");
        assert!(
            cargo::front_wasm(&workspace_root(), &site, Mode::Release)
                .ends_with("wasm-release/frontend.wasm")
        );
    }
}
