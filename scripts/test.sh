#!/usr/bin/env bash
# `npm test`: installs what the tests need, type-checks, checks the layering table of DESIGN.md,
# then runs every test file with node's test runner. Root-only tests skip themselves when not root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh
echo "== type-check" >&2
npx tsc --noEmit -p .
echo "== layering" >&2
node --import tsx scripts/check-layers.ts
echo "== tests" >&2
exec bash scripts/run-tests.sh "$@"
