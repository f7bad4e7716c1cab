// Compiles the `layercake` command line into JavaScript under worker/dist/ (gitignored, never
// committed), so a start pays neither for tsx compiling TypeScript nor for resolving hundreds of
// module files. Three outputs per build:
//   cli.cjs        the whole command line (worker/src/cli/entry.ts), one CommonJS file: each
//                  dynamic import becomes a module initialised on first use, so a verb runs only
//                  the modules its action imports; one file, so V8 can cache its compiled code
//                  (worker/cli.cjs keeps one cache per verb file beside it, cli.cjs.<file>.cache).
//                  Bundles per verb file were tried: each held 675-700 KB of the 742 (every verb
//                  can reach the engine), so they bought nothing a per-verb cache does not.
//   help-fast.cjs  what prints a help page without the rest, and picks the verb's cache
//                  (worker/src/cli/help-fast.ts).
//   help/<ko|en>/<command>.json  every --help page, rendered by commander from program.ts at
//                  every terminal width (worker/src/cli/help-pages.ts).
// CommonJS because node 20 has no compile cache for ES modules (module.enableCompileCache is
// node 22) and starts a CommonJS main file quicker.
//
// Each build goes to its own folder, worker/dist/cli-<time>-<pid>/, and worker/dist/cli.json names
// the current one with the source files it was built from, their newest mtime and which verb
// file adds each verb (program.ts VERBS); it is replaced by a rename, so a concurrent `layercake`
// sees the old build or the new, never half of one. worker/cli.cjs rebuilds (through this module)
// when a source is newer than the build.
//
//   node scripts/build-cli.cjs          build if stale
//   node scripts/build-cli.cjs --force  build anyway
'use strict';
// Only what currentBuild and isFresh need is loaded up front: the bin requires this file on every start.
const { cpSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { join, resolve } = require('node:path');

const repo = resolve(__dirname, '..');
const dist = join(repo, 'worker', 'dist');
const pointer = join(dist, 'cli.json');

/** The current build (its folder as `dir`, absolute), or null when there is none for this checkout. */
function currentBuild() {
  let current;
  try {
    current = JSON.parse(readFileSync(pointer, 'utf8'));
  } catch {
    return null;
  }
  if (current.repo !== repo || !current.verbs) return null; // the checkout moved (its source paths are baked in), or an older build
  return { ...current, dir: join(dist, current.dir) };
}

/** Whether no source of `build` changed since it was made. */
function isFresh(build) {
  // Every start stats each source (~150): joined by hand, as path.join's normalising cost more
  // than the stat, and missing without an exception.
  const prefix = `${repo}/`;
  for (const input of build.inputs) {
    const stat = statSync(prefix + input, { throwIfNoEntry: false });
    if (stat === undefined || stat.mtimeMs > build.newestMtimeMs) return false; // changed, or removed or renamed
  }
  return true;
}

/** The current build's folder if no source changed since, else null. */
function freshBuild() {
  const build = currentBuild();
  return build && isFresh(build) ? build.dir : null;
}

/** The current build's folder, fresh or not (null when there is none). */
function freshOrStale() {
  return currentBuild()?.dir ?? null;
}

function readFileOr(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
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
      return { contents: text.replaceAll('import.meta.url', JSON.stringify(require('node:url').pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

/**
 * zod's namespace carries every locale's error messages (40 languages) that its import evaluates;
 * nothing here uses any but English (the default), and our own messages are in protocol/i18n.ts.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${join('node_modules', 'zod')}/`) ? { path: 'zod-locales', namespace: 'zod-english-only' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, () => ({
      contents: `export { default as en } from ${JSON.stringify(join(repo, 'node_modules/zod/v4/locales/en.js'))};`,
      loader: 'js',
      resolveDir: repo,
    }));
  },
};

/**
 * Node's modules that the engine's files import at load but use only inside functions: each costs
 * a start one to ten milliseconds (child_process brings net and stream, crypto its bindings), and
 * a verb such as `images` calls few of them. In the bundle each is a stand-in that loads the real
 * module on first use: esbuild reads an imported name off the module object at each call
 * (`(0, mod.spawn)(…)`), so the stand-in sees every use.
 */
const LAZY_BUILTINS = ['child_process', 'crypto', 'zlib', 'readline', 'http', 'https', 'net', 'tls', 'dns', 'worker_threads', 'fs/promises', 'stream/promises', 'timers/promises'];
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`) }, (args) =>
      args.namespace === 'lazy-builtin' ? { path: args.path, external: true } : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
    );
    // The names are listed at build time (the same node runs the build and the bundle): an ES
    // import of a CommonJS module is copied name by name (esbuild's __toESM), which would
    // otherwise load the module to learn its names.
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      contents: `let real; const load = () => (real ??= require(${JSON.stringify(`node:${args.path}`)}));
const names = ${JSON.stringify(Object.keys(require(`node:${args.path}`)))};
module.exports = new Proxy({}, {
  get: (_, name) => load()[name],
  has: (_, name) => names.includes(name) || name in load(),
  ownKeys: () => names,
  getOwnPropertyDescriptor: (_, name) => (names.includes(name) ? { configurable: true, enumerable: true, get: () => load()[name] } : undefined),
});`,
      loader: 'js',
    }));
  },
};

const common = {
  absWorkingDir: repo,
  bundle: true,
  minify: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  metafile: true,
  logLevel: 'error',
  // import() becomes a lazily initialised module of the same file (node builtins and the packages
  // below a require()), so nothing needs an ES module loader at run time.
  supported: { 'dynamic-import': false },
  // The native addon stays a package, behind a stand-in that loads it on its first call
  // (worker/src/cli/xattr-lazy.ts). pino too (its transports load files by path), loaded only
  // when a line is written (worker/src/cli/pino-lazy.ts).
  alias: { pino: './worker/src/cli/pino-lazy.ts', '@napi-rs/xattr': './worker/src/cli/xattr-lazy.ts' },
  plugins: [sourceUrls, zodEnglishOnly, lazyBuiltins],
};

/** Node decodes a file with any non-ASCII byte as UTF-8 into a two-byte string, ten times slower than ASCII. */
function asciiOnly(file) {
  // esbuild escapes strings, but not regular expression literals.
  const text = readFileSync(file, 'utf8');
  if (/[^\x00-\x7f]/.test(text)) writeFileSync(file, text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

const sourcesOf = (result) => Object.keys(result.metafile.inputs).filter((p) => !p.startsWith('node_modules/') && !p.includes(':')); // not the plugins' own

async function buildCli() {
  const { build } = require('esbuild');
  const dir = `cli-${Date.now()}-${process.pid}`;
  const out = join(dist, dir);
  mkdirSync(out, { recursive: true });
  const entry = (name) => join(repo, 'worker/src/cli', name);
  const [all, helpFast, helpPagesBuild] = await Promise.all([
    build({ ...common, entryPoints: [entry('entry.ts')], outfile: join(out, 'cli.cjs') }),
    build({ ...common, entryPoints: [entry('help-fast.ts')], outfile: join(out, 'help-fast.cjs') }),
    build({ ...common, entryPoints: [entry('help-pages.ts')], outfile: join(out, 'help-pages.cjs') }),
  ]);
  asciiOnly(join(out, 'cli.cjs'));
  const { helpContents, helpPages, verbTable } = require(join(out, 'help-pages.cjs'));

  // The help pages are rendered by commander over the real command tree, then only the text stays.
  // Rendering every width takes most of a second: a build whose pages would say the same as the
  // last one's (most builds: an engine file changed) takes those.
  const key = require('node:crypto')
    .createHash('sha256')
    .update(await helpContents())
    .update(['worker/src/cli/help-pages.ts', 'worker/src/cli/help-fast.ts', 'worker/src/cli/help-text.ts', 'node_modules/commander/package.json'].map((f) => readFileSync(join(repo, f), 'utf8')).join('\0'))
    .digest('hex');
  const last = freshOrStale();
  if (last && readFileOr(join(last, 'help', 'key')) === key) {
    cpSync(join(last, 'help'), join(out, 'help'), { recursive: true });
  } else {
    for (const locale of ['en', 'ko']) {
      mkdirSync(join(out, 'help', locale), { recursive: true });
      for (const [name, page] of Object.entries(await helpPages(locale))) writeFileSync(join(out, 'help', locale, `${name}.json`), JSON.stringify(page));
    }
    writeFileSync(join(out, 'help', 'key'), key);
  }
  rmSync(join(out, 'help-pages.cjs'));

  const inputs = [...new Set([all, helpFast, helpPagesBuild].flatMap(sourcesOf)), 'scripts/build-cli.cjs'];
  const newestMtimeMs = Math.max(...inputs.map((p) => statSync(join(repo, p)).mtimeMs));
  const tmp = `${pointer}.${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ repo, dir, newestMtimeMs, verbs: verbTable(), inputs }));
  renameSync(tmp, pointer);
  // Older builds go, except the one before (a process may still be loading its files).
  const builds = readdirSync(dist).filter((d) => d.startsWith('cli-') && d !== dir).sort();
  for (const old of builds.slice(0, -1)) rmSync(join(dist, old), { recursive: true, force: true });
  return currentBuild();
}

module.exports = { buildCli, currentBuild, isFresh, freshBuild, bundleOptions: common };

if (require.main === module) {
  if (process.argv.includes('--force') || !freshBuild()) {
    buildCli().catch((err) => {
      process.stderr.write(`${err.stack ?? err}\n`);
      process.exit(1);
    });
  }
}
