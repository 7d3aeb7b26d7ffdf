#!/usr/bin/env bash
# Installs what brindle's commands and tests need on a fresh Debian 12 machine, idempotently:
# Debian packages (etcd for the distributed datastore) and the npm packages of this checkout.
# Sourced by scripts/test.sh and scripts/demo.sh; safe to run again and again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_apt=()
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need_apt+=(etcd-client)
# CNI plugin tests and bench/cni: the reference plugins (bridge, host-local, loopback) as the anchor,
# nsenter/ping inside namespaces, and two real runtimes (podman with runc; containerd's ctr) that call
# our plugin with a busybox root file system; curl carries the installed plugin shim's fast path.
[ -x /usr/lib/cni/host-local ] || need_apt+=(containernetworking-plugins)
command -v nsenter >/dev/null 2>&1 || need_apt+=(util-linux)
command -v ping >/dev/null 2>&1 || need_apt+=(iputils-ping)
[ -x /bin/busybox ] || need_apt+=(busybox-static)
command -v podman >/dev/null 2>&1 || need_apt+=(podman)
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
command -v ctr >/dev/null 2>&1 || need_apt+=(containerd)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# Dataplane tests and bench/dataplane: nft for the policy driver, iperf3 for throughput (B4).
command -v nft >/dev/null 2>&1 || need_apt+=(nftables)
command -v iperf3 >/dev/null 2>&1 || need_apt+=(iperf3)
# BGP (src/bgp): BIRD 2 daemon and its control client; tests parse golden configs with `bird -p`.
command -v bird >/dev/null 2>&1 || need_apt+=(bird2)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "brindle: missing Debian packages ${need_apt[*]} and not root; install them with apt-get" >&2
  else
    echo "brindle: installing Debian packages: ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  fi
fi

# Install npm packages unless node_modules already matches package-lock.json (npm keeps its own
# copy of the lock in node_modules/.package-lock.json) and the native SQLite binding loads.
# better-sqlite3 compiles from source when no prebuilt binary can be fetched: about 2 minutes.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || ! node -e "require('better-sqlite3')" >/dev/null 2>&1; then
  echo "brindle: installing npm packages (the first time this compiles SQLite: about 2 minutes)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
