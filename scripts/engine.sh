#!/bin/bash
# The test engine: a private dockerd (own data root, exec root, pidfile and socket) so tests never touch a
# node's real engine. `start` is idempotent. Its runtime "sysbox-runc" is, in this order:
#   1. a sysbox already installed on this machine (sysbox-runc, sysbox-mgr and sysbox-fs on PATH);
#   2. sysbox built from source by ../shared/sysbox/build.sh, when that folder exists (cached under /var/cache);
#   3. the TEST-ONLY stand-in test/runtime/sysbox-runc-shim over runc, said loudly (see test/README.md).
# With real sysbox it starts sysbox-mgr and sysbox-fs before dockerd (unless they already run) and stops them
# after it.
#   scripts/engine.sh start|stop|status
#   scripts/engine.sh packages   installs what the engine and the tests need (Debian packages), and nothing else
#   scripts/engine.sh sysbox     prints the sysbox-runc that start would register (building sysbox if it must)
# Then: DOCKER_HOST=unix:///run/cvm-supervisor-test/docker.sock
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=/run/cvm-supervisor-test
data_root=/var/lib/cvm-supervisor-test/docker
exec_root=$run_dir/exec
pidfile=$run_dir/dockerd.pid
socket=$run_dir/docker.sock
log_file=$run_dir/dockerd.log
docker_host=unix://$socket
shim=$repo_root/test/runtime/sysbox-runc-shim
# Canonical: build.sh's cache stamp hashes its own path.
sysbox_build=$(realpath -m "$repo_root/../shared/sysbox/build.sh")
sysbox_sockets=(/run/sysbox/sysmgr.sock /run/sysbox/sysfs.sock)
start_timeout_seconds=60
# Its own bridge, not docker0: another dockerd in this network namespace (a node's engine, a drill's private
# engine started with --bridge=none, which deletes docker0) must not be able to take the test engine's away.
bridge=cvmtest0
bridge_address=172.31.254.1/24
# The MAC Docker would derive for a container at the gateway's address (02:42, then the address); none gets it.
bridge_mac=02:42:ac:1f:fe:01

say() { echo "engine.sh: $*" >&2; }

ensure_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [[ -x /bin/busybox ]] || missing+=(busybox-static)
  command -v iptables >/dev/null || missing+=(iptables)
  # promtool checks /metrics in the API tests; Debian ships it in the prometheus package.
  command -v promtool >/dev/null || missing+=(prometheus)
  # The registry tests run a real authenticated registry: distribution v2 plus htpasswd.
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  # systemd-analyze verifies the units in systemd/ (test/unit/deploy); Debian ships it in the systemd package.
  command -v systemd-analyze >/dev/null || missing+=(systemd)
  command -v ip >/dev/null || missing+=(iproute2)
  # getfattr: the daemon reads overlayfs' opaque-directory marks in image layers with it.
  command -v getfattr >/dev/null || missing+=(attr)
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

engine_answers() { docker -H "$docker_host" info >/dev/null 2>&1; }

running_pid() {
  local pid
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
  if engine_answers; then
    say "already running at $docker_host"
    return 0
  fi
  if dockerd_pid=$(running_pid); then
    say "dockerd (pid $dockerd_pid) is starting; waiting for it"
    wait_until_answering || fail_with_log || return 1
    return 0
  fi
  ensure_packages
  mkdir -p "$run_dir" "$data_root" "$exec_root"
  local cvm_runtime
  cvm_runtime=$(resolve_cvm_runtime) || return 1
  [[ $cvm_runtime == "$shim" ]] || start_sysbox "$(dirname "$cvm_runtime")" || return 1
  ensure_bridge
  launch_dockerd --add-runtime "sysbox-runc=$cvm_runtime" --bridge="$bridge"
  if ! wait_until_answering; then
    grep -qi 'iptables' "$log_file" || fail_with_log || return 1
    # Some sandboxes refuse iptables' nat table. The tests need containers, not their networking: retry with
    # no bridge and no iptables (containers then get loopback only).
    say "dockerd failed on iptables; retrying with --iptables=false --bridge=none"
    stop_dockerd
    launch_dockerd --add-runtime "sysbox-runc=$cvm_runtime" --iptables=false --ip-masq=false --bridge=none
    wait_until_answering || fail_with_log || return 1
  fi
  say "started (pid $(<"$pidfile")) at $docker_host"
}

# Prints the sysbox-runc to register: installed, else built from ../shared/sysbox, else the shim.
resolve_cvm_runtime() {
  local runc bin
  if runc=$(command -v sysbox-runc) && command -v sysbox-mgr >/dev/null && command -v sysbox-fs >/dev/null; then
    :
  elif [[ -x $sysbox_build ]]; then
    say "building sysbox from $(dirname "$sysbox_build") (cached after the first time)"
    bin=$("$sysbox_build") || { say "building sysbox failed"; return 1; }
    runc=$bin/sysbox-runc
  else
    say "!!! NO SYSBOX: neither installed nor buildable here (no $sysbox_build)."
    say "!!! CVM tests run on the TEST-ONLY shim over plain runc: no user namespace, no sysbox-fs, no Docker inside."
    echo "$shim"
    return 0
  fi
  echo "$runc"
}

sysbox_serving() {
  local socket
  for socket in "${sysbox_sockets[@]}"; do [[ -S $socket ]] || return 1; done
  pgrep -x sysbox-mgr >/dev/null && pgrep -x sysbox-fs >/dev/null
}

# sysbox-mgr, then sysbox-fs (both sockets must exist before a sysbox container starts). One set per mount
# namespace: when one already serves (a machine's sysbox.service), it is used and left alone at stop.
start_sysbox() {
  local bin=$1 name waited socket
  if sysbox_serving; then
    say "sysbox-mgr and sysbox-fs already run; using them"
    return 0
  fi
  rm -f "${sysbox_sockets[@]}"
  # FUSE mounts of a sysbox-fs that stopped while a CVM still had them: with one left, the next sysbox-fs was seen
  # to hang at start without its socket.
  local stale
  while read -r stale; do umount -l "$stale" && say "unmounted a stale sysbox-fs mount: $stale"; done \
    < <(awk '$3 == "fuse" && index($2, "/var/lib/sysboxfs/") == 1 { print $2 }' /proc/self/mounts)
  local i names=(sysbox-mgr sysbox-fs)
  for i in 0 1; do
    name=${names[i]} socket=${sysbox_sockets[i]}
    local args=()
    [[ $name == sysbox-mgr ]] && args=(--disable-shiftfs)
    : >"$run_dir/$name.log"
    "$bin/$name" "${args[@]}" >>"$run_dir/$name.log" 2>&1 </dev/null &
    echo $! >"$run_dir/$name.pid"
    waited=0
    until [[ -S $socket ]]; do
      if ((waited >= 300)) || ! kill -0 "$(<"$run_dir/$name.pid")" 2>/dev/null; then
        say "$name did not create $socket within 30s or exited; last lines of $run_dir/$name.log:"
        tail -n 20 "$run_dir/$name.log" >&2
        stop_sysbox
        return 1
      fi
      sleep 0.1
      waited=$((waited + 1))
    done
  done
  say "started sysbox-mgr and sysbox-fs from $bin"
}

# Only what start_sysbox started (its pid files): sysbox-fs first, then sysbox-mgr.
stop_sysbox() {
  local name pid waited
  for name in sysbox-fs sysbox-mgr; do
    [[ -f $run_dir/$name.pid ]] || continue
    pid=$(<"$run_dir/$name.pid")
    rm -f "$run_dir/$name.pid"
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid"
    waited=0
    while kill -0 "$pid" 2>/dev/null && ((waited < 100)); do sleep 0.1; waited=$((waited + 1)); done
    kill -KILL "$pid" 2>/dev/null || true
    say "stopped $name (pid $pid)"
  done
}

# The bridge's MAC is set: one the kernel picks follows the bridge's lowest port MAC (all zeros with no port), so it
# changes whenever a container whose veth has a lower one starts or goes, and the other containers, which keep the old
# one in their ARP cache, get no answer from the gateway (this machine) for up to a minute.
ensure_bridge() {
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add name "$bridge" type bridge
    ip addr add "$bridge_address" dev "$bridge"
    ip link set "$bridge" up
  fi
  ip link set "$bridge" address "$bridge_mac"
}

# Own containerd namespaces: if a system containerd runs at its default socket, dockerd uses it instead of
# starting a private one, and the node's own engine must not see our containers.
launch_dockerd() {
  : >"$log_file"
  dockerd \
    --data-root "$data_root" \
    --exec-root "$exec_root" \
    --pidfile "$pidfile" \
    --host "$docker_host" \
    --containerd-namespace cvm-supervisor-test \
    --containerd-plugins-namespace cvm-supervisor-test-plugins \
    "$@" \
    >>"$log_file" 2>&1 </dev/null &
  dockerd_pid=$!
}

wait_until_answering() {
  local waited=0
  until engine_answers; do
    if ((waited >= start_timeout_seconds)) || ! kill -0 "$dockerd_pid" 2>/dev/null; then
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

fail_with_log() {
  say "dockerd did not answer within ${start_timeout_seconds}s or exited; last lines of $log_file:"
  tail -n 40 "$log_file" >&2
  stop_dockerd
  return 1
}

unmount_leftovers() {
  local target
  findmnt -rn -o TARGET | awk -v a="$exec_root" -v b="$data_root" 'index($0, a) == 1 || index($0, b) == 1' |
    sort -r | while read -r target; do
      umount -l "$target" 2>/dev/null || true
    done
}

stop_dockerd() {
  local pid waited=0
  if pid=$(running_pid); then
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do
      if ((waited >= 30)); then
        say "dockerd (pid $pid) ignored SIGTERM for 30s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 1
      waited=$((waited + 1))
    done
    say "stopped (pid $pid)"
  else
    say "not running"
  fi
  rm -f "$pidfile"
}

stop() {
  stop_dockerd
  stop_sysbox
  unmount_leftovers
  ip link del "$bridge" 2>/dev/null || true
}

status() {
  local pid
  if engine_answers; then
    pid=$(running_pid || echo unknown)
    echo "running (pid $pid) at $docker_host"
    return 0
  fi
  echo "not running"
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  packages) ensure_packages ;;
  sysbox) resolve_cvm_runtime ;;
  *)
    echo "usage: $0 start|stop|status|packages|sysbox" >&2
    exit 2
    ;;
esac
