#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS LAYERCAKE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} node
// `layercake` (the package's bin, also /usr/local/bin/layercake after setup): runs the compiled
// command line (scripts/build-cli.cjs, built in setup into the gitignored worker/dist/), and
// rebuilds it first when a source file changed since, so a checkout never runs stale code. A help
// request is answered from the pages built beside it (help-fast.ts); anything else runs cli.cjs
// with V8's code cache. Without a build (esbuild failed, or the tree is read-only) it runs the
// TypeScript through tsx.
//
// The first line: node 20 reads and parses every certificate of NODE_EXTRA_CA_CERTS before the
// first line of JavaScript (about 90 ms for Debian's bundle), whether a command makes a TLS
// connection or not. So the bin starts without it and hands it on under another name: children
// get it back, and so does this process's HTTPS (the registry client), when it is first loaded.
'use strict';
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const extraCa = process.env.LAYERCAKE_EXTRA_CA_CERTS;
delete process.env.LAYERCAKE_EXTRA_CA_CERTS;
if (extraCa) process.env.NODE_EXTRA_CA_CERTS = extraCa;

/** require() for the bundle: node:https trusts the extra certificates as NODE_EXTRA_CA_CERTS would. */
function bundleRequire(file) {
  const plain = require('node:module').createRequire(file);
  if (!extraCa) return plain;
  let trusted = false;
  const wrapped = (id) => {
    const loaded = plain(id);
    if (!trusted && (id === 'node:https' || id === 'https')) {
      trusted = true;
      try {
        loaded.globalAgent.options.ca = [...require('node:tls').rootCertificates, readFileSync(extraCa, 'utf8')];
      } catch {
        // unreadable: node itself would only warn, and go on with its own certificates
      }
    }
    return loaded;
  };
  return Object.assign(wrapped, plain);
}

/** Runs the bundle, its compiled code from the cache beside it (written on the first run). */
function runBundle(dir) {
  const Module = require('node:module');
  const vm = require('node:vm');
  const file = join(dir, 'cli.cjs');
  const cacheFile = `${file}.cache`;
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // first run of this build
  }
  const script = new vm.Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
  if (cachedData === undefined || script.cachedDataRejected) {
    // After the start-up, so the cache holds the functions it compiled; never in the way of exit.
    setImmediate(() => {
      try {
        const tmp = `${cacheFile}.${process.pid}`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cacheFile);
      } catch {
        // a read-only tree: every run compiles
      }
    });
  }
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, bundleRequire(file), module, file, dir);
}

const build = require('../scripts/build-cli.cjs');
const built = build.freshBuild();
(built ? Promise.resolve(built) : build.buildCli().catch(() => null)).then(async (dir) => {
  if (dir) {
    if (!require(join(dir, 'help-fast.cjs')).serveHelp(process.argv.slice(2), join(dir, 'help'))) runBundle(dir);
    return;
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import('./src/cli/entry.ts');
});
