#!/bin/bash
# Builds the supervising image from Dockerfile.supervisor.
#
#   scripts/build-supervisor-image.sh [--sysbox-bin DIR] [-t TAG] [-- DOCKER_BUILD_ARGS...]
#
#   --sysbox-bin DIR  the image carries DIR's sysbox-runc, sysbox-mgr and sysbox-fs instead of sysbox's release
#                     package, for machines that cannot download it (e.g. the output of ../shared/sysbox/build.sh).
#                     The image's sysbox-version label is what DIR/sysbox-runc --version says.
#   -t TAG            the image's tag (default: cvm-supervisor:VERSION, VERSION from package.json)
#   -- ...            passed to docker build as they are (--network host, --build-arg SYSBOX_VERSION=, ...)
#
# BASE_IMAGE in the environment: any Debian bookworm image with node and npm (default: node:24-bookworm-slim).
# DOCKER_HOST is honoured, as docker itself does. REVISION is the git commit when this is a git checkout.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# usage [STATUS]: the header above as text; on stderr for bad usage (exit 2), on stdout for --help (exit 0).
usage() {
  local status=${1:-2}
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&$((status == 0 ? 1 : 2))
  exit "$status"
}

sysbox_bin='' tag='' extra=()
while (($#)); do
  case $1 in
    --sysbox-bin) (($# >= 2)) || usage; sysbox_bin=$2; shift 2 ;;
    -t) (($# >= 2)) || usage; tag=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) usage 0 ;;
    *) echo "build-supervisor-image: unknown argument: $1" >&2; usage ;;
  esac
done

version=$(node -p 'require(process.argv[1]).version' "$repo_root/package.json")
tag=${tag:-cvm-supervisor:$version}
args=(build -f Dockerfile.supervisor -t "$tag" --build-arg "VERSION=$version")
[[ -n ${BASE_IMAGE:-} ]] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
if revision=$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null); then args+=(--build-arg "REVISION=$revision"); fi

if [[ -n $sysbox_bin ]]; then
  for name in sysbox-runc sysbox-mgr sysbox-fs; do
    [[ -f $sysbox_bin/$name && -x $sysbox_bin/$name ]] || { echo "build-supervisor-image: $sysbox_bin has no executable $name" >&2; exit 2; }
  done
  sysbox_version=$("$sysbox_bin/sysbox-runc" --version | awk '$1 == "version:" { print $2 }')
  [[ -n $sysbox_version ]] || { echo "build-supervisor-image: $sysbox_bin/sysbox-runc --version names no version" >&2; exit 1; }
  # The binaries must be inside the build context: a directory of their own per build (concurrent builds).
  mkdir -p "$repo_root/.cache"
  stage=$(mktemp -d "$repo_root/.cache/sysbox-bin.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  cp "$sysbox_bin/sysbox-runc" "$sysbox_bin/sysbox-mgr" "$sysbox_bin/sysbox-fs" "$stage/"
  args+=(--build-arg "SYSBOX_BIN=${stage#"$repo_root"/}" --build-arg "SYSBOX_VERSION=$sysbox_version")
  echo "build-supervisor-image: sysbox $sysbox_version from $sysbox_bin (not the release package)" >&2
fi

cd "$repo_root"
docker "${args[@]}" "${extra[@]}" .
echo "build-supervisor-image: built $tag" >&2
