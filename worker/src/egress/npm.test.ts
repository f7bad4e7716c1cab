// `npm install` in a build, on the offline `node:18` base image (Debian's nodejs and npm),
// through the host's squid: npm reaches registry.npmjs.org with CONNECT, which the allow-list
// admits. Real parts only; skipped, saying why, when the npm registry is not reachable.
//
// This machine's own way out intercepts TLS (registry.npmjs.org presents a certificate of the
// host's "sandboxing-egress-ca", which the host trusts and Debian's bundle does not), so the
// service is given the root of the chain the host sees as the operator's CA
// (LAYERCAKE_EGRESS_CA, trust.ts: NODE_EXTRA_CA_CERTS in the step): with no interception that is
// the registry's real root and changes nothing.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import { ensureBaseImage } from '../base-images/index.js';
import type { Builder } from '../builder/build.js';
import { createHarness, type Harness } from '../builder/test-support/harness.js';
import { processesMentioning } from '../containers/test-support/harness.js';
import { EgressService } from './index.js';
import { chainRoot } from './test-support/host-ca.js';
import { reachable } from './test-support/reachable.js';

const online = (await reachable('registry.npmjs.org', 'https')) && (await reachable('deb.debian.org'));
if (!online) console.warn('npm tests skipped: registry.npmjs.org or deb.debian.org is not reachable from this host');

describe.skipIf(!online)('npm install in a build', () => {
  let h: Harness;
  let dir: string;
  let egress: EgressService;
  let builder: Builder;

  beforeAll(async () => {
    h = await createHarness('npm');
    const node = await ensureBaseImage(h.store, 'node:18');
    expect(node.config.config?.Cmd).toEqual(['node']);
    dir = await mkdtemp('/tmp/lc-npm-');
    await chmod(dir, 0o755);
    const caFile = join(dir, 'operator-ca.pem');
    await writeFile(caFile, await chainRoot('registry.npmjs.org'));
    egress = new EgressService({ dir, cacheBytes: 128 * 2 ** 20, sessionsDir: join(h.dataDir, 'sessions'), extraCa: caFile });
    await egress.start();
    builder = h.builderWith({ egress });
  }, 900_000);

  afterAll(async () => {
    await egress?.stop();
    expect(processesMentioning(dir)).toEqual([]);
    expect(await h.leftovers()).toEqual([]);
    await h?.close();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('FROM node:18 builds offline of any registry, and npm install fetches a package through the proxy', async () => {
    const dockerfile = [
      'FROM node:18',
      'WORKDIR /app',
      'RUN npm init -y >/dev/null && npm install --no-audit --no-fund is-number@7.0.0',
      `RUN node -e "console.log('is-number:', require('is-number')(7))"`,
      '',
    ].join('\n');
    const built = await h.build(dockerfile, { tags: ['npm-app'] }, builder).catch((err) => {
      console.error(JSON.stringify((err as LearnerError).facts, null, 1));
      throw err;
    });
    const log = built.events.events.flatMap((e) => (e.type === 'build.log' ? [e.text] : [])).join('');
    expect(log).toContain('is-number: true');
    expect(await h.inImage(built.imageId, 'cat "$ROOT/app/node_modules/is-number/package.json"')).toContain('"version": "7.0.0"');
    const reached = built.events.events.filter((e) => e.type === 'build.egress');
    expect(JSON.stringify(reached)).toContain('registry.npmjs.org');
  }, 300_000);
});
