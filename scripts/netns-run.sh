#!/usr/bin/env bash
# netns-run.sh — run a command inside a fresh, throwaway network namespace.
#
#   scripts/netns-run.sh [--name NAME] [--keep] [--rootless] [--] [COMMAND [ARG...]]
#
# As root: creates network namespace NAME (default tunstack-<pid>), brings its loopback up, runs
# COMMAND in it (`ip netns exec`), then stops what still runs there and deletes exactly that
# namespace, also on Ctrl-C or kill. The exit status is COMMAND's. Without COMMAND it starts an
# interactive shell inside the namespace.
# As an ordinary user (or with --rootless): no sudo needed. `unshare -rn` makes a user namespace
# with its own network namespace, where you are root over that private network only (CAP_NET_ADMIN
# for TUN devices, addresses, routes) and nobody else; COMMAND runs there, in its own PID namespace,
# and whatever it leaves running is stopped when it ends, so the namespace goes with it. --name and
# --keep apply to root's named namespaces only. Needs unprivileged user namespaces (most distros
# allow them) and a /dev/net/tun you may open (mode 0666, the usual one).
# Nothing you do inside (TUN devices, routes, pings, servers) touches the host's network.
#
#   scripts/netns-run.sh bash -c 'npm start & sleep 3; ping -c 3 10.77.0.2'
#   sudo scripts/netns-run.sh --name lab1 --keep      # shell; the namespace survives for `ip netns exec lab1 ...`
set -euo pipefail

usage() {
  sed -n '4p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

name="tunstack-$$"
keep=0
rootless=0
[[ $(id -u) -ne 0 ]] && rootless=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name)
      [[ $# -ge 2 ]] || usage
      name="$2"
      shift 2
      ;;
    --name=*)
      name="${1#--name=}"
      shift
      ;;
    --keep)
      keep=1
      shift
      ;;
    --rootless)
      rootless=1
      shift
      ;;
    -h | --help) usage ;;
    --)
      shift
      break
      ;;
    -*)
      echo "netns-run.sh: unknown option $1" >&2
      usage
      ;;
    *) break ;;
  esac
done

if [[ ! "$name" =~ ^[A-Za-z0-9_.-]{1,64}$ ]]; then
  echo "netns-run.sh: bad namespace name '$name' (letters, digits, . _ - only)" >&2
  exit 2
fi
if ! command -v ip >/dev/null 2>&1; then
  echo "netns-run.sh: the 'ip' program (iproute2) is required" >&2
  exit 1
fi

if [[ $rootless -eq 1 ]]; then
  if ! command -v unshare >/dev/null 2>&1; then
    echo "netns-run.sh: the 'unshare' program (util-linux) is required without root" >&2
    exit 1
  fi
  if [[ ! -r /dev/net/tun || ! -w /dev/net/tun ]]; then
    echo "netns-run.sh: warning: /dev/net/tun is not readable and writable by you, so no TUN device can be opened in there: sudo chmod 0666 /dev/net/tun (the usual mode)" >&2
  fi
  # Inside (PID 1 of a new PID namespace, root of a new user namespace, in a new network namespace):
  # loopback up, COMMAND (or a shell), then TERM to every process still in the PID namespace (the
  # stack shuts down cleanly), KILL a moment later; when this PID 1 exits the kernel ends the rest
  # and the network namespace, with any TUN device in it, is gone.
  inner='
    ip link set lo up || exit 1
    if [ $# -eq 0 ]; then
      echo "netns-run.sh: shell inside a private network namespace (unshare -rn; exit to leave)" >&2
      "${SHELL:-/bin/bash}"
      status=$?
    else
      "$@" &
      child=$!
      trap "kill -TERM $child 2>/dev/null" INT TERM
      wait $child
      status=$?
      trap - INT TERM
      wait $child 2>/dev/null
    fi
    if kill -0 -1 2>/dev/null; then
      kill -TERM -1 2>/dev/null
      for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 -1 2>/dev/null || break
        sleep 0.2
      done
      kill -KILL -1 2>/dev/null
    fi
    exit $status'
  set +e
  unshare --user --map-root-user --net --pid --fork --kill-child=SIGTERM -- bash -c "$inner" netns-run "$@"
  status=$?
  if [[ $status -ne 0 ]] && ! unshare --user --map-root-user --net true 2>/dev/null; then
    echo "netns-run.sh: unprivileged user namespaces are not available here (sysctl user.max_user_namespaces," \
      "kernel.unprivileged_userns_clone, or an AppArmor restriction): run it with sudo instead" >&2
  fi
  exit "$status"
fi

if ip netns list | awk '{print $1}' | grep -qx -- "$name"; then
  echo "netns-run.sh: namespace '$name' already exists; pick another --name" >&2
  exit 1
fi

ip netns add "$name"
created=1
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ ${created:-0} -eq 1 && $keep -eq 0 ]]; then
    # Whatever COMMAND left running in the namespace (a stack started with '&', say) goes with it:
    # TERM first (the stack flushes its pcap and exits), KILL what is still there a moment later.
    local pids
    pids=$(ip netns pids "$name" 2>/dev/null | tr '\n' ' ')
    if [[ -n "$pids" ]]; then
      # shellcheck disable=SC2086
      kill -TERM $pids 2>/dev/null || true
      for _ in 1 2 3 4 5 6 7 8 9 10; do
        [[ -z "$(ip netns pids "$name" 2>/dev/null)" ]] && break
        sleep 0.2
      done
      pids=$(ip netns pids "$name" 2>/dev/null | tr '\n' ' ')
      # shellcheck disable=SC2086
      [[ -n "$pids" ]] && kill -KILL $pids 2>/dev/null || true
    fi
    ip netns delete "$name" 2>/dev/null || true
  elif [[ $keep -eq 1 ]]; then
    echo "netns-run.sh: kept namespace '$name' (remove with: ip netns delete $name)" >&2
  fi
  exit "$status"
}
trap cleanup EXIT

ip -n "$name" link set lo up

if [[ $# -eq 0 ]]; then
  trap 'exit 130' INT
  trap 'exit 143' TERM
  echo "netns-run.sh: shell inside network namespace '$name' (exit to leave; it is then deleted)" >&2
  set +e
  ip netns exec "$name" "${SHELL:-/bin/bash}"
  exit $?
fi

# Run COMMAND in the background and wait, so that a signal to this script is handled at once:
# pass it on as SIGTERM (a background child ignores SIGINT), let COMMAND finish, then clean up.
child=0
forward() {
  local code=$1
  if [[ $child -ne 0 ]]; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  exit "$code"
}
trap 'forward 130' INT
trap 'forward 143' TERM
set +e
ip netns exec "$name" "$@" &
child=$!
wait "$child"
status=$?
child=0
exit "$status"
