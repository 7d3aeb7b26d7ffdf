#!/usr/bin/env bash
# Runs the test files given (default: every *.test.ts under src/, bench/ and scripts/) with node:test.
# Node 20 has no glob support in --test, so the file list is built here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(find src bench scripts -name '*.test.ts' -not -path '*/node_modules/*' | sort); fi
exec node --import tsx --test --test-reporter=spec "${files[@]}"
