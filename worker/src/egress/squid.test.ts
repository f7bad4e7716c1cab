// squid as the engine starts it, on its own: here, under a data dir that others may not pass.
import { mkdtemp, rm, stat, chmod } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { Squid } from './squid.js';

it('starts under a data dir made 0700, which it opens for passing through only (o+x)', async () => {
  const dataDir = await mkdtemp('/tmp/lc-squid-');
  await chmod(dataDir, 0o700);
  const squid = new Squid({ dir: join(dataDir, 'egress', 'squid'), allow: ['deb.debian.org'], cacheBytes: 64 * 2 ** 20 });
  try {
    // Before, squid (user proxy) could not reach its files: "Failed to make swap directory … Permission denied".
    await squid.start();
    await new Promise<void>((resolve, reject) => {
      const socket = connect(squid.port, '127.0.0.1', () => resolve(void socket.destroy())).once('error', reject);
    });
    expect((await stat(dataDir)).mode & 0o777).toBe(0o701);
  } finally {
    await squid.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
