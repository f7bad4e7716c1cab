#!/usr/bin/env bash
# `npm start`: set up everything (the app's production build only when its sources changed),
# then start the product. `npm run dev` (--dev): the same with Next's development server.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--dev" ]; then
  LAYERCAKE_SKIP_APP_BUILD=1 bash scripts/setup.sh
  exec npx tsx scripts/start.ts --dev
fi
bash scripts/setup.sh
exec npx tsx scripts/start.ts
