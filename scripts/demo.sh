#!/usr/bin/env bash
# The main job (until `brindlectl lab` exists): a short guided session with brindlectl against the
# embedded SQLite datastore — pools, a small app, policies in tiers, what bad input looks like, a
# policy trace, and the move to etcd with `datastore migrate`. Safe to run again; it cleans up the
# etcd it starts and keeps the SQLite file so you can continue by hand.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh

STATE_DIR=${BRINDLE_DEMO_DIR:-/var/lib/brindle}
mkdir -p "$STATE_DIR"
DB="$STATE_DIR/demo.db"
rm -f "$DB" "$DB-wal" "$DB-shm"
export BRINDLE_DATASTORE="sqlite:$DB"
ETCD_DIR=$(mktemp -d /tmp/brindle-demo-etcd.XXXXXX)
ETCD_PID=""
cleanup() {
  if [ -n "$ETCD_PID" ]; then kill "$ETCD_PID" 2>/dev/null || true; wait "$ETCD_PID" 2>/dev/null || true; fi
  rm -rf "$ETCD_DIR"
}
trap cleanup EXIT

ctl() { node bin/brindlectl.mjs "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ brindlectl %s\n' "$*"; ctl "$@"; }

step "Datastore: $BRINDLE_DATASTORE (the embedded default; set BRINDLE_DATASTORE or --datastore to change)"
step "1. Address pools (Calico projectcalico.org/v3 manifests apply unchanged; defaults are filled in)"
show apply -f examples/demo/01-pools.yaml
show get ippools -o wide

step "2. Namespaces and pods of a small shop"
show apply -f examples/demo/02-app.yaml
show get pods -A -o wide

step "3. Policies: a 'security' tier before the default tier, plus a Kubernetes NetworkPolicy"
show apply -f examples/demo/03-policy.yaml
show get tiers
show get gnp -o wide
show get networkpolicies.networking.k8s.io -n data

step "4. Bad input is rejected whole, with the file, document, field and column; nothing is written"
show apply -f examples/demo/bad-policy.yaml || echo "(exit status $?)"
show get gnp -o name

step "5. Why would a flow be allowed or denied? (evaluated from the stored policies)"
show policy trace --from shop/frontend --to data/database --port 5432/TCP || true
show policy trace --from data/backend --to data/database --port 5432/TCP || true
show policy trace --from shop/frontend --to data/backend --port 8080/TCP || true

step "6. Outgrowing one machine: migrate everything to etcd"
ETCD_URL=http://127.0.0.1:23791
etcd --name brindle-demo --data-dir "$ETCD_DIR/data" --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
  --listen-peer-urls http://127.0.0.1:23801 --initial-advertise-peer-urls http://127.0.0.1:23801 \
  --initial-cluster brindle-demo=http://127.0.0.1:23801 --heartbeat-interval 10 --election-timeout 100 \
  >"$ETCD_DIR/etcd.log" 2>&1 &
ETCD_PID=$!
for _ in $(seq 1 200); do etcdctl --endpoints "$ETCD_URL" endpoint health >/dev/null 2>&1 && break; sleep 0.05; done
show datastore migrate --from "sqlite:$DB" --to "etcd:$ETCD_URL"
show --datastore "etcd:$ETCD_URL" get gnp -o wide

step "Done. Continue by hand with:  export BRINDLE_DATASTORE=sqlite:$DB; node bin/brindlectl.mjs get pods -A"
