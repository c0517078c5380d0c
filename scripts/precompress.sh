#!/usr/bin/env bash
# Writes <file>.br (brotli, quality 11) and <file>.gz (gzip -9) beside the wasm, JavaScript and
# CSS of a built site, which the server then sends as they are to browsers that accept them
# instead of compressing on every request. Usage: scripts/precompress.sh [site/pkg folder]
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-target/site/pkg}

for file in "$folder"/*.wasm "$folder"/*.js "$folder"/*.css; do
  [ -f "$file" ] || continue
  gzip -9 -k -f -n "$file"
  node -e '
    const zlib = require("zlib"), fs = require("fs");
    const [from, to] = process.argv.slice(1);
    const q = zlib.constants.BROTLI_PARAM_QUALITY;
    fs.writeFileSync(to, zlib.brotliCompressSync(fs.readFileSync(from), { params: { [q]: 11 } }));
  ' "$file" "$file.br"
  printf '%s: %s bytes, brotli %s, gzip %s\n' "$file" "$(stat -c %s "$file")" \
    "$(stat -c %s "$file.br")" "$(stat -c %s "$file.gz")"
done
