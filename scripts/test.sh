#!/usr/bin/env bash
# `npm test`: set up what the tests need, then run every suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
npx tsc --noEmit
npx tsc --noEmit -p app
npx tsc --noEmit -p e2e
npx vitest run "$@"
# The e2e suite (e2e/playwright.config.ts) drives the production build in Chromium; with
# arguments (a vitest file or filter) only vitest runs.
if [ $# -eq 0 ]; then
  npx tsx scripts/build-app.ts
  npx playwright test -c e2e
fi
