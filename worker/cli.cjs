#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS LAYERCAKE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} node
// `layercake` (the package's bin, also /usr/local/bin/layercake after setup): runs the compiled
// command line (scripts/build-cli.cjs, built in setup into the gitignored worker/dist/), and
// rebuilds it first when a source of what it is about to run changed since, so a checkout never
// runs stale code. A help request is answered from the pages built beside it (help-fast.ts);
// a verb runs the bundle of its verb file (images.cjs for `images`…), anything else cli.cjs, each
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

/**
 * Runs the bundle, its compiled code from a cache beside it: one cache per verb file (`name`),
 * written on that file's first run of this build, so it holds what this verb compiled (one cache
 * for all would hold only what the first verb after a build ran).
 */
function runBundle(dir, name) {
  const Module = require('node:module');
  const vm = require('node:vm');
  const file = join(dir, 'cli.cjs');
  const cacheFile = `${file}.${name}.cache`;
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // first run of this verb file
  }
  const script = new vm.Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
  if (cachedData === undefined || script.cachedDataRejected) {
    // At exit, so the cache holds every function the verb compiled. (Not on the next turn of the
    // loop: a verb whose reads are all synchronous exits before it has one.)
    process.once('exit', () => {
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

/** Serves a help page, or runs the command line with the cache of the verb these arguments name. */
function runFrom(dir, verbs, args) {
  const helpFast = require(join(dir, 'help-fast.cjs'));
  const name = helpFast.verbFileFor(args, verbs);
  if (name === 'help' && helpFast.serveHelp(args, join(dir, 'help'))) return;
  runBundle(dir, name === 'help' ? 'cli' : name);
}

const buildScript = require('../scripts/build-cli.cjs');
const args = process.argv.slice(2);
const current = buildScript.currentBuild();
if (current && buildScript.isFresh(current)) runFrom(current.dir, current.verbs, args);
else {
  buildScript
    .buildCli()
    .catch(() => null)
    .then(async (build) => {
      if (build) return runFrom(build.dir, build.verbs, args);
      const { register } = await import('tsx/esm/api');
      register();
      await import('./src/cli/entry.ts');
    });
}
