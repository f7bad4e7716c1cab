#!/usr/bin/env bash
# `npm test`: set up what the tests need, then run every suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
npx tsc --noEmit
npx vitest run "$@"
