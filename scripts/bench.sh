#!/usr/bin/env bash
# `npm run bench`: every bench/ script, each printing its figures and ratios against a peer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --bench
for b in bench/*.ts; do
  echo "== $b"
  npx tsx "$b"
done
