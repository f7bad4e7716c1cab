// The app's production build (`next build app`), run by setup only when the app's sources
// changed since the last build: a hash of app/src, app/scripts, the Next and TypeScript
// settings, protocol/ and the lock file is kept beside the build (app/.next/layercake-build.sha256).
//   npx tsx scripts/build-app.ts [--force]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const root = new URL('../', import.meta.url).pathname.replace(/\/$/, '');
const inputs = ['app/src', 'app/scripts', 'app/next.config.ts', 'app/tsconfig.json', 'app/tsconfig.build.json', 'app/next-env.d.ts', 'protocol', 'package-lock.json'];
const stampFile = join(root, 'app/.next/layercake-build.sha256');

function filesUnder(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .filter((e) => !e.name.endsWith('.test.ts') && e.name !== 'node_modules')
    .flatMap((e) => filesUnder(join(path, e.name)));
}

export function sourceHash(): string {
  const hash = createHash('sha256');
  for (const file of inputs.flatMap((p) => filesUnder(join(root, p))).sort()) {
    hash.update(`${relative(root, file)}\0`);
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

const lockFile = join(root, 'app/.next/lock');
const upToDate = (want: string) =>
  !process.argv.includes('--force') && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === want && existsSync(join(root, 'app/.next/BUILD_ID'));

/** Another `next build` of this checkout (npm test's, a second npm start) holds app/.next/lock: wait for it. */
async function othersBuildDone(): Promise<void> {
  const until = Date.now() + 10 * 60_000;
  if (existsSync(lockFile)) process.stderr.write('[setup] waiting for another next build of this checkout\n');
  while (existsSync(lockFile) && Date.now() < until) await sleep(1000);
}

let want = sourceHash();
if (upToDate(want)) process.exit(0);
await othersBuildDone();
// It may just have built these very sources.
want = sourceHash();
if (upToDate(want)) process.exit(0);
process.stderr.write('[setup] building the app (next build app)\n');
const started = Date.now();
const built = spawnSync(process.execPath, [join(root, 'node_modules/next/dist/bin/next'), 'build', 'app'], {
  cwd: root,
  stdio: ['ignore', 'inherit', 'inherit'],
  env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
});
if (built.status !== 0) {
  process.stderr.write(`[setup] next build failed (${built.signal ?? built.status})\n`);
  process.exit(1);
}
writeFileSync(stampFile, `${want}\n`);
process.stderr.write(`[setup] app built in ${Math.round((Date.now() - started) / 1000)} s\n`);
