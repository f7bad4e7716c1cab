#!/usr/bin/env node
// `layercake` (the package's bin, also /usr/local/bin/layercake after setup): runs the compiled
// command line (scripts/build-cli.mjs, built in setup into the gitignored worker/dist/), and
// rebuilds it first when a source file changed since, so a checkout never runs stale code.
// Without esbuild's build (it failed, or the tree is read-only) it runs the TypeScript through tsx.
import { buildCli, freshBuild } from '../scripts/build-cli.mjs';
import { pathToFileURL } from 'node:url';

let entry = freshBuild();
if (!entry) entry = await buildCli().catch(() => null);
if (entry) {
  await import(pathToFileURL(entry).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./src/cli/main.ts');
}
