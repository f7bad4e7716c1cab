// A container's writable layer on the engine's quota filesystem (the kind `npm start` sets up):
// the kernel stops a container writing past its limit, neighbours write on, and commit and rm
// work on the limited directory. Made on a small loop filesystem this test creates and unmounts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QuotaKind } from '../disk/disk-quota.js';
import { mountQuotaFilesystem, quotaKinds, type QuotaFilesystem } from '../disk/test-support/quota-filesystem.js';
import { createHarness, logsOf, type Harness } from './test-support/harness.js';

const MiB = 1024 * 1024;

function suite(kind: QuotaKind, supported: boolean) {
  describe.skipIf(!supported)(`writable layers on ${kind}${supported ? '' : ' (skipped: this kernel cannot mount it with quotas)'}`, () => {
    let fs: QuotaFilesystem;
    let h: Harness;

    beforeAll(async () => {
      fs = await mountQuotaFilesystem(kind, 'ct-quota');
      h = await createHarness(`quota-${kind}`, { dataDir: fs.dataDir });
    });

    afterAll(async () => {
      await h?.close();
      await fs?.remove();
    });

    it('stops a container at its writable-layer limit; its neighbour writes on; commit and rm still work', async () => {
      const c = h.containers();
      const limits = { writableLayerBytes: 8 * MiB };
      const full = (await c.run({ image: 'busybox', limits, cmd: ['sh', '-c', 'dd if=/dev/zero of=/big bs=1M count=64 conv=fsync; ls -l /big'] })).container;
      const neighbour = (await c.run({ image: 'busybox', limits, cmd: ['sh', '-c', 'dd if=/dev/zero of=/small bs=1M count=4 conv=fsync'] })).container;
      expect(full.diskQuota).toBe(true);
      expect((await c.wait(full.id)).exitCode).toBe(0); // `ls` ran last
      expect((await c.wait(neighbour.id)).exitCode).toBe(0);
      const log = await logsOf(c, full.id);
      expect(log).toMatch(/quota exceeded|No space left/i);
      const size = Number(/\s(\d+)\s+\w{3}\s+\d+\s+[\d:]+\s+\/big/.exec(log)?.[1]);
      expect(size).toBeGreaterThan(4 * MiB);
      expect(size).toBeLessThanOrEqual(8 * MiB);

      const { imageId } = await c.commit(neighbour.id, { reference: 'small' });
      const check = (await c.run({ image: imageId, cmd: ['sh', '-c', 'wc -c < /small'] })).container;
      await c.wait(check.id);
      expect((await logsOf(c, check.id)).trim()).toBe(String(4 * MiB));
      await h.clean(); // rm of all three, checked to leave nothing
    });
  });
}

for (const { kind, supported } of quotaKinds) suite(kind, supported);
