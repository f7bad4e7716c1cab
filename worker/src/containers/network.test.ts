// A container made with `--network none` gets no way out, whoever starts it: the worker's
// Containers always carries the egress service (containers' doors to package archives, or to
// the closed relay for a session not let out), and the record's network decides at each start
// (launch.ts) and each exec (containers.ts). Real parts: the launcher, busybox, the egress
// service's socat door (transient: its squid would start only on a request, and none is made).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressService } from '../egress/index.js';
import type { Containers } from './containers.js';
import { containerPaths } from './record.js';
import { createHarness, processesMentioning, type Harness } from './test-support/harness.js';

let h: Harness;
let egress: EgressService;

beforeAll(async () => {
  h = await createHarness('network');
  egress = new EgressService({ dir: join(h.work, 'egress'), sessionsDir: join(h.dataDir, 'sessions'), transient: true });
  await egress.start();
});

afterAll(async () => {
  try {
    await h.clean();
    await egress.stop();
    expect(processesMentioning(join(h.work, 'egress'))).toEqual([]); // no door left
  } finally {
    await h.close();
  }
});

/** What a process of the container sees: the proxy's variables, and TCP sockets listening in its network namespace. */
async function seen(c: Containers, id: string): Promise<{ proxy: string[]; listening: string[] }> {
  const session = await c.exec(id, { cmd: ['sh', '-c', 'env | grep -i _proxy= | cut -d= -f1; echo --; cat /proc/net/tcp /proc/net/tcp6 | awk \'$4 == "0A" { print $2 }\''] });
  let out = '';
  session.process.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  expect((await session.exited).exitCode).toBe(0);
  const [proxy, listening] = out.split('--\n');
  return { proxy: proxy!.split('\n').filter(Boolean), listening: listening!.split('\n').filter(Boolean) };
}

describe('a container’s network as its record says, with the egress service on', () => {
  it.each([[true], [false]])('session let out: %s — none has no door and no proxy variables; the control (default) has both', async (allowed) => {
    const c = h.containers({ containerEgress: egress.forContainers() });
    const { container: none } = await c.run({ image: 'busybox', cmd: ['sleep', '120'], egress: allowed, network: 'none' });
    const { container: plain } = await c.run({ image: 'busybox', cmd: ['sleep', '120'], egress: allowed });
    try {
      expect(none.config.network).toBe('none');
      expect(plain.config.network).toBe('default');
      expect(await seen(c, none.id)).toEqual({ proxy: [], listening: [] });
      // The door listens on 127.0.0.1:3128 (to the session's relay, or to the closed one that says why).
      const control = await seen(c, plain.id);
      expect(control.listening).toEqual(['0100007F:0C38']);
      expect(control.proxy).toContain('http_proxy');
    } finally {
      await c.remove(none.id, { force: true });
      await c.remove(plain.id, { force: true });
    }
  });

  it('a record from before the flag reads as default', async () => {
    const c = h.containers();
    const made = await c.create({ image: 'busybox', cmd: ['true'] });
    try {
      // Written as an older engine wrote it (writeRecord would fill the default in itself).
      const path = containerPaths(h.dataDir, made.id).record;
      const record = JSON.parse(await readFile(path, 'utf8')) as { config: Record<string, unknown> };
      expect(record.config.network).toBe('default');
      delete record.config.network;
      await writeFile(path, JSON.stringify(record));
      expect((await c.inspect(made.id)).config.network).toBe('default');
    } finally {
      await c.remove(made.id, { force: true });
    }
  });
});
