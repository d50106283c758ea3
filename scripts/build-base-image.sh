#!/usr/bin/env bash
# Build a Debian bookworm image with Python 3.11 for machines that cannot pull
# python:3.11-slim, and print its name. Pass the name to the image build as
# `--build-arg BASE_IMAGE=NAME`.
#
# The image is made with debootstrap and `podman import`, so it needs root, podman,
# debootstrap and a reachable Debian mirror. Its tag is a hash of this script, the
# suite and the mirror: a second run with the same inputs finds the image in podman's
# storage and prints its name without rebuilding it.
#
# Environment:
#   KILN_DEBIAN_MIRROR  Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   KILN_DEBIAN_SUITE   Debian suite (default bookworm, whose python3 is 3.11)
#   KILN_BASE_REPO      image repository (default localhost/kiln-base)
set -euo pipefail

mirror=${KILN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${KILN_DEBIAN_SUITE:-bookworm}
repo=${KILN_BASE_REPO:-localhost/kiln-base}
packages=python3,python3-venv,ca-certificates

key=$( { cat "$0"; echo "$suite $mirror $packages"; } | sha256sum | cut -c1-12)
image="$repo:$suite-$key"

fail() {
    echo "build-base-image: $*" >&2
    exit 1
}

command -v podman >/dev/null \
    || fail "podman is not installed. Install it (Debian: apt-get install podman) or build" \
        "on an existing base image with --base-image."
if podman image exists "$image"; then
    echo "$image"
    exit 0
fi

for tool in debootstrap tar; do
    command -v "$tool" >/dev/null \
        || fail "$tool is not installed. Install it (Debian: apt-get install $tool) or" \
            "build on an existing base image with --base-image."
done
[ "$(id -u)" -eq 0 ] \
    || fail "debootstrap needs root, but this runs as uid $(id -u). Run it as root or" \
        "build on an existing base image with --base-image."

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/kiln-base.XXXXXX")

# debootstrap mounts /proc and /sys inside the target and may bind-mount device nodes.
# Unmount whatever is left under the target before deleting it, so that `rm` can never
# reach into the host's /proc, /sys or /dev.
cleanup() {
    local mountpoint
    for mountpoint in $(awk -v root="$rootfs/" 'index($2, root) == 1 { print $2 }' \
        /proc/mounts | sort -r); do
        umount -l "$mountpoint" || true
    done
    rm -rf --one-file-system "$rootfs"
}
trap cleanup EXIT

echo "build-base-image: running debootstrap $suite from $mirror (about a minute)" >&2
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" \
    >"$rootfs.log" 2>&1; then
    tail -n 20 "$rootfs.log" >&2
    rm -f "$rootfs.log"
    fail "debootstrap $suite from $mirror failed; the lines above are the end of its log."
fi
rm -f "$rootfs.log"

# The image never runs apt, so it needs no package lists or downloaded .deb files, and
# nobody reads its documentation or translations. Removing them halves the size of the
# root filesystem (275 MB to 133 MB for bookworm as of this writing).
rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
    "$rootfs"/usr/share/locale/*

tar -C "$rootfs" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' \
    --exclude='./sys/*' -c . \
    | podman import --quiet --change 'CMD ["python3"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        - "$image" >/dev/null
echo "$image"
