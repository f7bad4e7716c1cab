#!/usr/bin/env bash
# `npm start`: set up everything, then start the product.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx tsx scripts/start.ts
