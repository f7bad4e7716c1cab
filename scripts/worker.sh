#!/usr/bin/env bash
# `npm run worker`: one more worker host on a shared Redis (set REDIS_URL; LAYERCAKE_HOST_ID
# defaults to the hostname). Sets up what the engine needs, then runs the worker process alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node --import tsx worker/src/main.ts
