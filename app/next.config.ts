// The site's Next.js settings. The app is served by the gateway's custom server (server/main.ts),
// so Next.js never listens on its own port.
import type { NextConfig } from 'next';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';
import { execFileSync } from 'node:child_process';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

// Monaco is served from public/monaco (no CDN); every build and dev server makes sure it is there.
// (A child process: this file is compiled to CommonJS, which cannot load the TS script.)
execFileSync(process.execPath, ['--import', 'tsx', `${root}/app/scripts/copy-monaco.ts`], { stdio: ['ignore', 'ignore', 'inherit'] });

const config: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // protocol/ lives beside app/: let the bundler read files above app/.
  turbopack: {
    root,
    // dockerfile-language-service can ask Docker Hub for image tags over node's https; in the
    // browser (and with no internet) that request must fail at once, not pull in a polyfill.
    resolveAlias: { https: { browser: './src/components/editor/no-network.ts' } },
    // protocol/ imports its siblings as `./x.js` (NodeNext, for the worker); point those at the .ts.
    rules: {
      '*.ts': [{ condition: { not: 'foreign' }, loaders: [`${root}/app/scripts/ts-specifier-loader.cjs`] }],
      '*.tsx': [{ condition: { not: 'foreign' }, loaders: [`${root}/app/scripts/ts-specifier-loader.cjs`] }],
    },
  },
  outputFileTracingRoot: root,
  // `next build` checks the site's own code; tests beside it (vitest, playwright, the engine's
  // test helpers) are checked by `tsc -p app` and run by vitest, not shipped.
  typescript: { tsconfigPath: 'tsconfig.build.json' },
};

export default config;
