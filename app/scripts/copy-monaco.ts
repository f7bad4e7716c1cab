// Monaco is served by our own server, never a CDN: its AMD build (node_modules/monaco-editor/
// min/vs) is copied to app/public/monaco/vs, where the editor's loader finds it (/monaco/vs).
// Runs from next.config.ts, so every `next build` and `next dev` has it; also runnable alone:
//   npx tsx app/scripts/copy-monaco.ts
// A copy of the same version is left as is (a stamp file records the version).
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const appDir = dirname(dirname(fileURLToPath(import.meta.url)));

export function copyMonaco(): { copied: boolean; version: string } {
  const pkgPath = findPackageJson('monaco-editor');
  const version = (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
  const target = join(appDir, 'public', 'monaco');
  const stamp = join(target, 'VERSION');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === version && existsSync(join(target, 'vs', 'loader.js'))) {
    return { copied: false, version };
  }
  rmSync(target, { recursive: true, force: true });
  cpSync(join(dirname(pkgPath), 'min', 'vs'), join(target, 'vs'), { recursive: true });
  writeFileSync(stamp, `${version}\n`);
  return { copied: true, version };
}

/** The package's folder in the nearest node_modules (its exports map hides package.json from require.resolve). */
function findPackageJson(name: string): string {
  for (let dir = appDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`${name} is not installed (npm install)`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { copied, version } = copyMonaco();
  console.log(copied ? `monaco-editor ${version} copied to app/public/monaco/vs` : `monaco-editor ${version} already in app/public/monaco/vs`);
}
