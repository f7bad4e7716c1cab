// Compiles the `layercake` command line (worker/src/cli/main.ts) into JavaScript under
// worker/dist/ (gitignored, never committed), so a start pays neither for tsx compiling
// TypeScript nor for resolving hundreds of module files: one bundle, split at each dynamic
// import, so a verb loads only the engine modules its action imports.
//
// Each build goes to its own folder, worker/dist/cli-<time>/, and worker/dist/cli.json names the
// current one with the source files it was built from and their newest mtime; it is replaced by a
// rename, so a concurrent `layercake` sees the old build or the new, never half of one.
// worker/cli.mjs rebuilds (through this module) when a source is newer than the build.
//
//   node scripts/build-cli.mjs          build if stale
//   node scripts/build-cli.mjs --force  build anyway
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(repo, 'worker', 'dist');
const pointer = join(dist, 'cli.json');

/** The current build's entry file, or null when there is none or a source changed since. */
export function freshBuild() {
  let current;
  try {
    current = JSON.parse(readFileSync(pointer, 'utf8'));
  } catch {
    return null;
  }
  if (current.repo !== repo) return null; // the checkout moved: its source paths are baked in
  for (const input of current.inputs) {
    try {
      if (statSync(join(repo, input)).mtimeMs > current.newestMtimeMs) return null;
    } catch {
      return null; // a source was removed or renamed
    }
  }
  return join(dist, current.dir, 'main.js');
}

/**
 * Modules find files beside them through import.meta.url (the seccomp profile, fstree, the egress
 * forwarder, the repository root): in the bundle each keeps its source file's URL.
 */
const sourceUrls = {
  name: 'source-urls',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes('/node_modules/')) return undefined;
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      return { contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

export async function buildCli() {
  const { build } = await import('esbuild');
  const dir = `cli-${Date.now()}-${process.pid}`;
  const out = join(dist, dir);
  mkdirSync(out, { recursive: true });
  const result = await build({
    entryPoints: [join(repo, 'worker/src/cli/main.ts')],
    outdir: out,
    absWorkingDir: repo,
    bundle: true,
    splitting: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    metafile: true,
    logLevel: 'error',
    // A native addon and pino (its transports load files by path) stay packages.
    external: ['@napi-rs/xattr', 'pino'],
    // Bundled CommonJS packages call require() for Node's own modules.
    banner: { js: "import{createRequire as __lcRequire}from'node:module';const require=__lcRequire(import.meta.url);" },
    plugins: [sourceUrls],
  });
  const inputs = Object.keys(result.metafile.inputs).filter((p) => !p.startsWith('node_modules/'));
  const newestMtimeMs = Math.max(...inputs.map((p) => statSync(join(repo, p)).mtimeMs));
  const tmp = `${pointer}.${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ repo, dir, newestMtimeMs, inputs }));
  renameSync(tmp, pointer);
  // Older builds go, except the one before (a process may still be loading its chunks).
  const builds = readdirSync(dist).filter((d) => d.startsWith('cli-') && d !== dir).sort();
  for (const old of builds.slice(0, -1)) rmSync(join(dist, old), { recursive: true, force: true });
  return join(out, 'main.js');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--force') || !freshBuild()) await buildCli();
}
