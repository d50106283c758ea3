#!/usr/bin/env bash
# Build the kiln server image (or the operator image) from the repository's Dockerfile.
#
# The server image carries the model's name, weight bytes and manifest sha256 as labels.
# A Dockerfile cannot read a file from an earlier stage into a LABEL, so this script
# builds the server in two passes. The first pass builds the `bake` stage and copies its
# kiln-manifest.json out of the image. The second builds the final stage with the labels
# as build arguments, and every step but the LABEL comes from the build cache.
#
# Usage: scripts/build-image.sh [options] [-- extra options for `ENGINE build`]
#   --tag NAME            image name (default kiln-server:latest, kiln-operator:latest)
#   --target TARGET       server (default) or operator
#   --engine ENGINE       podman or docker (default podman when installed, else docker)
#   --base-image IMAGE    Python 3.11 base image (default: the Dockerfile's python:3.11-slim)
#   --model-dir DIR       bake the model in DIR instead of the default model package
#   --model-name NAME     served model name for --model-dir (default: DIR's base name)
#   --torch-index-url URL extra index for torch (default: PyTorch's CPU index; empty: PyPI)
#
# Prints the image name as its last line of output.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
target=server
tag=
engine=
model_dir=
model_name=
build_args=()

fail() {
    echo "build-image: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
        --tag) tag=$2; shift 2 ;;
        --target) target=$2; shift 2 ;;
        --engine) engine=$2; shift 2 ;;
        --base-image) build_args+=(--build-arg "BASE_IMAGE=$2"); shift 2 ;;
        --model-dir) model_dir=$2; shift 2 ;;
        --model-name) model_name=$2; shift 2 ;;
        --torch-index-url) build_args+=(--build-arg "TORCH_INDEX_URL=$2"); shift 2 ;;
        --) shift; break ;;
        *) fail "unknown option $1; see the usage at the top of $0." ;;
    esac
done
extra=("$@")

case "$target" in
    server | operator) ;;
    *) fail "--target is $target; it must be server or operator." ;;
esac
if [ -z "$engine" ]; then
    if command -v podman >/dev/null; then engine=podman; else engine=docker; fi
fi
command -v "$engine" >/dev/null || fail "$engine is not installed; install podman or docker."
tag=${tag:-kiln-$target:latest}

if [ "$target" = operator ]; then
    "$engine" build --target operator "${build_args[@]}" "${extra[@]}" -t "$tag" "$repo" >&2
    echo "$tag"
    exit 0
fi

if [ -n "$model_dir" ]; then
    [ -d "$model_dir" ] || fail "--model-dir $model_dir is not a directory."
    model_dir=$(cd "$model_dir" && pwd)
    build_args+=(--build-context "model-source=$model_dir")
    build_args+=(--build-arg "BAKE_MODEL_NAME=${model_name:-$(basename "$model_dir")}")
elif [ -n "$model_name" ]; then
    build_args+=(--build-arg "BAKE_MODEL_NAME=$model_name")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-build-image.XXXXXX")
container=
cleanup() {
    if [ -n "$container" ]; then "$engine" rm "$container" >/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "build-image: pass 1 of 2, building the bake stage" >&2
"$engine" build --target bake --iidfile "$work/bake.iid" "${build_args[@]}" "${extra[@]}" \
    "$repo" >&2

# `create` and `cp` read the file without starting a container.
container=$("$engine" create "$(cat "$work/bake.iid")")
"$engine" cp "$container:/opt/kiln/model/kiln-manifest.json" "$work/kiln-manifest.json"

manifest="$work/kiln-manifest.json"
name=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["name"])' "$manifest")
weight_bytes=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["weight_bytes"])' \
    "$manifest")
manifest_sha256=$(sha256sum "$manifest" | cut -d' ' -f1)

echo "build-image: pass 2 of 2, model $name, $weight_bytes weight bytes," \
    "manifest sha256 $manifest_sha256" >&2
"$engine" build --target server "${build_args[@]}" "${extra[@]}" \
    --build-arg "MODEL_NAME=$name" \
    --build-arg "MODEL_WEIGHT_BYTES=$weight_bytes" \
    --build-arg "MODEL_MANIFEST_SHA256=$manifest_sha256" \
    -t "$tag" "$repo" >&2
echo "$tag"
