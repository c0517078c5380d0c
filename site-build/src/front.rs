//! From the compiled wasm to what the browser loads: wasm-bindgen's JavaScript glue and wasm,
//! then, for release builds, wasm-opt when it is installed.

use std::path::Path;
use std::process::Command;

use crate::Mode;
use crate::config::Site;

/// Writes `<name>.js` and `<name>.wasm` into `pkg_dir`.
pub fn bindgen(wasm: &Path, site: &Site, pkg_dir: &Path) -> Result<(), String> {
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen
        .input_path(wasm)
        .out_name(&site.name)
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

/// Shrinks the release wasm with binaryen's `wasm-opt -Oz` (installed by `scripts/tools.sh
/// binaryen`); a debug build is left as it is.
pub fn optimise(mode: Mode, wasm: &Path) -> Result<(), String> {
    if mode == Mode::Debug {
        return Ok(());
    }
    let status = Command::new("wasm-opt")
        .args(["-Oz", "--enable-bulk-memory", "--enable-nontrapping-float-to-int"])
        .arg(wasm)
        .arg("-o")
        .arg(wasm)
        .status()
        .map_err(|e| format!("cannot run wasm-opt (scripts/tools.sh binaryen installs it): {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("wasm-opt failed on {} ({status})", wasm.display()))
    }
}
