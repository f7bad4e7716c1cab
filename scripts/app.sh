#!/usr/bin/env bash
# `npm run app`: one more app process (Next.js + gateway) on a shared Redis (set REDIS_URL;
# PORT, default 3000). Needs no root and no engine: npm dependencies and the app's build only.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${REDIS_URL:-}" ]; then
  echo "[app] set REDIS_URL to the Redis the workers use (e.g. unix://$PWD/.data/redis/redis.sock)" >&2
  exit 1
fi
bash scripts/setup.sh --app
NODE_ENV=production exec node --import tsx app/server/main.ts
