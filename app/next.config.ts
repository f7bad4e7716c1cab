// The site's Next.js settings. The app is served by the gateway's custom server (server/main.ts),
// so Next.js never listens on its own port.
import type { NextConfig } from 'next';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

const config: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // protocol/ lives beside app/: let the bundler read files above app/.
  turbopack: { root },
  outputFileTracingRoot: root,
};

export default config;
