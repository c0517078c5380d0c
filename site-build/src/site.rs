//! The files around the wasm: the stylesheet and static assets copied into the site, content
//! hashes in the names of what browsers may cache for ever, and compressed copies for release.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::config::Site;

/// The file the server reads to learn the hashed names (`js: …`, `wasm: …`, `css: …`), in the
/// format Leptos's `HydrationScripts` reads.
pub const HASH_FILE: &str = "hash.txt";

/// Empties the package folder so no file of an earlier build is served by mistake.
pub fn fresh_pkg_dir(pkg_dir: &Path) -> Result<(), String> {
    if pkg_dir.exists() {
        std::fs::remove_dir_all(pkg_dir).map_err(|e| format!("cannot empty {}: {e}", pkg_dir.display()))?;
    }
    std::fs::create_dir_all(pkg_dir).map_err(|e| format!("cannot create {}: {e}", pkg_dir.display()))
}

pub fn copy_style(root: &Path, site: &Site, pkg_dir: &Path) -> Result<(), String> {
    let from = root.join(&site.style_file);
    let to = pkg_dir.join(format!("{}.css", site.name));
    std::fs::copy(&from, &to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

/// Copies the assets folder (favicon and the like) into the site root, keeping its layout.
pub fn copy_assets(from: &Path, to: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_assets(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| format!("cannot copy {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Renames `<name>.js`, `<name>.wasm` and `<name>.css` to `<name>.<hash>.<ext>`, points the
/// split loader at the renamed JavaScript, and writes the hash file into the site root. The
/// loader, the manifest and the chunks keep their names (and are revalidated on each load): the
/// main wasm names the loader, and its hash must not change after it was computed.
pub fn hash_names(site: &Site, site_root: &Path, pkg_dir: &Path) -> Result<(), String> {
    let mut hashes = BTreeMap::new();
    for extension in ["wasm", "css", "js"] {
        let path = pkg_dir.join(format!("{}.{extension}", site.name));
        let content = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let hash = content_hash(&content);
        let renamed = pkg_dir.join(format!("{}.{hash}.{extension}", site.name));
        std::fs::rename(&path, &renamed).map_err(|e| format!("cannot rename {}: {e}", path.display()))?;
        hashes.insert(extension, hash);
    }
    let loader = pkg_dir.join(crate::front::SPLIT_LOADER);
    let script =
        std::fs::read_to_string(&loader).map_err(|e| format!("cannot read {}: {e}", loader.display()))?;
    let main_module = format!("./{}.js", site.name);
    if !script.contains(&main_module) {
        return Err(format!("{} does not import {main_module}", loader.display()));
    }
    let script = script.replace(&main_module, &format!("./{}.{}.js", site.name, hashes["js"]));
    std::fs::write(&loader, script).map_err(|e| format!("cannot write {}: {e}", loader.display()))?;
    let lines: String = hashes
        .iter()
        .map(|(extension, hash)| format!("{extension}: {hash}\n"))
        .collect();
    let hash_file = site_root.join(HASH_FILE);
    std::fs::write(&hash_file, lines).map_err(|e| format!("cannot write {}: {e}", hash_file.display()))
}

/// 22 URL-safe characters of SHA-256: the length of the placeholder Leptos's split loader uses.
fn content_hash(content: &[u8]) -> String {
    let digest = Sha256::digest(content);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Writes `<file>.br` (brotli, quality 11) and `<file>.gz` (gzip, level 9) beside every wasm,
/// JavaScript and CSS file, which the server sends as they are to browsers that accept them.
pub fn precompress(pkg_dir: &Path) -> Result<Vec<(PathBuf, u64, usize, usize)>, String> {
    let mut sizes = Vec::new();
    let entries =
        std::fs::read_dir(pkg_dir).map_err(|e| format!("cannot read {}: {e}", pkg_dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read {}: {e}", pkg_dir.display()))?
            .path();
        let compressible = path
            .extension()
            .is_some_and(|extension| ["wasm", "js", "css"].iter().any(|wanted| extension == *wanted));
        if !compressible {
            continue;
        }
        let content = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let brotli = brotli_bytes(&content)?;
        let gzip = gzip_bytes(&content)?;
        write_beside(&path, "br", &brotli)?;
        write_beside(&path, "gz", &gzip)?;
        sizes.push((path, content.len() as u64, brotli.len(), gzip.len()));
    }
    sizes.sort();
    Ok(sizes)
}

fn brotli_bytes(content: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 24,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &content[..], &mut out, &params).map_err(|e| format!("brotli: {e}"))?;
    Ok(out)
}

fn gzip_bytes(content: &[u8]) -> Result<Vec<u8>, String> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(content).map_err(|e| format!("gzip: {e}"))?;
    encoder.finish().map_err(|e| format!("gzip: {e}"))
}

fn write_beside(path: &Path, extension: &str, content: &[u8]) -> Result<(), String> {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    std::fs::write(&name, content)
        .map_err(|e| format!("cannot write {}: {e}", PathBuf::from(&name).display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::read(&crate::workspace_root()).expect("the workspace's site table")
    }

    #[test]
    fn names_carry_the_content_hash_and_the_loader_follows_the_javascript() {
        let root = std::env::temp_dir().join(format!("site-build-hash-{}", std::process::id()));
        let pkg = root.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("backplane.js"), "export function hydrate() {}").unwrap();
        std::fs::write(pkg.join("backplane.wasm"), b"\0asm wasm").unwrap();
        std::fs::write(pkg.join("backplane.css"), "body {}").unwrap();
        let loader = pkg.join(crate::front::SPLIT_LOADER);
        std::fs::write(&loader, "import { initSync } from \"./backplane.js\";").unwrap();

        hash_names(&site(), &root, &pkg).unwrap();

        let hashes = std::fs::read_to_string(root.join(HASH_FILE)).unwrap();
        let hash_of = |kind: &str| {
            hashes
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{kind}: ")))
                .unwrap()
                .to_owned()
        };
        for kind in ["js", "wasm", "css"] {
            let hash = hash_of(kind);
            assert_eq!(hash.len(), 22, "{kind}: {hash}");
            assert!(pkg.join(format!("backplane.{hash}.{kind}")).is_file());
            assert!(!pkg.join(format!("backplane.{kind}")).exists());
        }
        assert_eq!(hash_of("js"), content_hash(b"export function hydrate() {}"));
        let rewritten = std::fs::read_to_string(&loader).unwrap();
        assert_eq!(
            rewritten,
            format!("import {{ initSync }} from \"./backplane.{}.js\";", hash_of("js"))
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn precompressed_copies_decompress_to_the_original() {
        let pkg = std::env::temp_dir().join(format!("site-build-compress-{}", std::process::id()));
        std::fs::create_dir_all(&pkg).unwrap();
        let script = "export const answer = 42;\n".repeat(500);
        std::fs::write(pkg.join("app.js"), &script).unwrap();
        std::fs::write(pkg.join("manifest.json"), "{}").unwrap();

        let sizes = precompress(&pkg).unwrap();

        assert_eq!(sizes.len(), 1, "only wasm, JavaScript and CSS are compressed");
        let mut unzipped = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(pkg.join("app.js.gz")).unwrap()),
            &mut unzipped,
        )
        .unwrap();
        assert_eq!(unzipped, script);
        let mut unbrotlied = Vec::new();
        brotli::BrotliDecompress(
            &mut std::fs::File::open(pkg.join("app.js.br")).unwrap(),
            &mut unbrotlied,
        )
        .unwrap();
        assert_eq!(unbrotlied, script.as_bytes());
        assert!(!pkg.join("manifest.json.br").exists());
        let _ = std::fs::remove_dir_all(&pkg);
    }
}
