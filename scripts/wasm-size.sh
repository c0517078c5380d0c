#!/usr/bin/env bash
# Prints the size of a wasm file raw, gzip -9 and brotli -q 11 (bytes).
set -euo pipefail
wasm=${1:-target/site/pkg/backplane.wasm}
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
if command -v brotli >/dev/null; then
  br=$(brotli -q 11 -c "$wasm" | wc -c)
else
  br=$(python3 -c 'import sys,brotli; print(len(brotli.compress(open(sys.argv[1],"rb").read(), quality=11)))' "$wasm" 2>/dev/null \
    || node -e 'const z=require("zlib"),fs=require("fs");const b=fs.readFileSync(process.argv[1]);console.log(z.brotliCompressSync(b,{params:{[z.constants.BROTLI_PARAM_QUALITY]:11}}).length)' "$wasm")
fi
printf '%s: raw %s bytes, gzip -9 %s bytes, brotli -q11 %s bytes\n' "$wasm" "$raw" "$gz" "$br"
