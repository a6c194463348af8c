#!/usr/bin/env bash
# install-onnxruntime.sh — installs ONNX Runtime for Node.js (npm onnxruntime-node, CPU runtime)
# into DIR/node_modules, for tests/cli_onnx.sh; nothing when it is already there.
# --ignore-scripts: the package's install script would fetch GPU add-ons that are not needed.
# usage: scripts/install-onnxruntime.sh DIR
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
version=1.30.0
dir=$1
have=$(node -p "require('$dir/node_modules/onnxruntime-node/package.json').version" 2>/dev/null || true)
[ "$have" = "$version" ] && exit 0
command -v npm >/dev/null 2>&1 || { echo "install-onnxruntime: npm is not installed (scripts/install-deps.sh --test)" >&2; exit 1; }
mkdir -p "$dir"
echo "install-onnxruntime: npm install onnxruntime-node@$version into $dir" >&2
npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --no-save --loglevel=error \
    "onnxruntime-node@$version" >&2
