//! From the compiled wasm to what the browser loads: the wasm split at its lazy routes (one
//! main module and chunks fetched when a route first needs them), wasm-bindgen's JavaScript glue,
//! then, for release builds, wasm-opt when it is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Mode;
use crate::config::Site;

/// The JavaScript module through which the main wasm loads its chunks. Leptos's
/// `HydrationScripts` looks for it under this name (the underscores stand for a hash).
pub const SPLIT_LOADER: &str = "__wasm_split.______________________.js";
/// Which chunks each lazy function needs, read by `HydrationScripts` to preload them.
pub const SPLIT_MANIFEST: &str = "__wasm_split_manifest.json";

/// The main module to hand to wasm-bindgen, and the chunk files written into `pkg_dir`.
pub struct SplitWasm {
    pub main: PathBuf,
    pub chunks: Vec<PathBuf>,
}

/// Splits `wasm` at its lazy functions, writing the chunks, the loader and the manifest into
/// `pkg_dir`.
pub fn split(wasm: &Path, site: &Site, pkg_dir: &Path) -> Result<SplitWasm, String> {
    let input = std::fs::read(wasm).map_err(|e| format!("cannot read {}: {e}", wasm.display()))?;
    let main = wasm.with_file_name(format!("{}_split.wasm", site.name));
    let main_module = format!("./{}.js", site.name);
    let link_name = format!("./{SPLIT_LOADER}");
    let mut options = wasm_split_cli_support::Options::new(&input);
    options.output_dir = pkg_dir;
    options.main_out_path = &main;
    options.main_module = &main_module;
    options.link_name = &link_name;
    let split = wasm_split_cli_support::transform(options)
        .map_err(|e| format!("splitting {}: {e:#}", wasm.display()))?;
    let manifest =
        serde_json::to_string_pretty(&split.prefetch_map).map_err(|e| format!("the split manifest: {e}"))?;
    let manifest_path = pkg_dir.join(SPLIT_MANIFEST);
    std::fs::write(&manifest_path, manifest)
        .map_err(|e| format!("cannot write {}: {e}", manifest_path.display()))?;
    Ok(SplitWasm {
        main,
        chunks: split.split_modules,
    })
}

/// Writes `<name>.js` and `<name>.wasm` into `pkg_dir` from the split main module (whose
/// linker exports and mangled names the chunks refer to, so both are kept).
pub fn bindgen(wasm: &Path, site: &Site, pkg_dir: &Path) -> Result<(), String> {
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen
        .input_path(wasm)
        .out_name(&site.name)
        .keep_lld_exports(true)
        .demangle(false)
        .web(true)
        .map_err(|e| format!("wasm-bindgen: {e}"))?;
    bindgen
        .generate(pkg_dir)
        .map_err(|e| format!("wasm-bindgen on {}: {e:#}", wasm.display()))?;
    // Leptos's hydration script asks for `<name>.wasm`, not wasm-bindgen's `<name>_bg.wasm`.
    let generated = pkg_dir.join(format!("{}_bg.wasm", site.name));
    let wanted = pkg_dir.join(format!("{}.wasm", site.name));
    std::fs::rename(&generated, &wanted).map_err(|e| format!("cannot rename {}: {e}", generated.display()))
}

/// Shrinks each release wasm with binaryen's `wasm-opt -Oz` (installed by `scripts/tools.sh
/// binaryen`), as many at once as there are cores; a debug build is left as it is. wasm-opt's
/// output is shown only when it fails (it warns about every split module's name section).
pub fn optimise(mode: Mode, wasm_files: &[PathBuf]) -> Result<(), String> {
    if mode == Mode::Debug {
        return Ok(());
    }
    let queue = std::sync::Mutex::new(wasm_files.iter());
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    loop {
                        let next = queue.lock().map_err(|_| "wasm-opt queue".to_string())?.next();
                        match next {
                            Some(wasm) => optimise_one(wasm)?,
                            None => return Ok(()),
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().try_for_each(|handle| {
            handle
                .join()
                .unwrap_or_else(|_| Err("a wasm-opt worker panicked".into()))
        })
    })
}

fn optimise_one(wasm: &Path) -> Result<(), String> {
    let output = Command::new("wasm-opt")
        .args(["-Oz", "--enable-bulk-memory", "--enable-nontrapping-float-to-int"])
        .arg(wasm)
        .arg("-o")
        .arg(wasm)
        .output()
        .map_err(|e| format!("cannot run wasm-opt (scripts/tools.sh binaryen installs it): {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "wasm-opt failed on {} ({}):\n{}",
            wasm.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
