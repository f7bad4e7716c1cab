#!/usr/bin/env bash
# `npm test`: set up what the tests need, then run every suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# The three type checks side by side: each keeps one core busy (about 37, 11 and 16 s of CPU),
# so on 2 cores together they take about as long as the first alone.
npx tsc --noEmit -p app & app=$!
npx tsc --noEmit -p e2e & e2e=$!
trap 'kill "$app" "$e2e" 2>/dev/null || true' EXIT
npx tsc --noEmit
wait "$app"
wait "$e2e"
trap - EXIT
npx vitest run "$@"
# The e2e suite (e2e/playwright.config.ts) drives the production build in Chromium; with
# arguments (a vitest file or filter) only vitest runs.
if [ $# -eq 0 ]; then
  npx tsx scripts/build-app.ts
  npx playwright test -c e2e
fi
