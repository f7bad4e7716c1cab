// A RUN step on the engine's quota filesystem (the kind `npm start` sets up): the kernel stops
// the step writing past its bound, the learner is told which line and what the bound is, and the
// build leaves nothing behind. A step within the bound builds as usual. Made on a small loop
// filesystem this test creates and unmounts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LearnerError } from '../../../protocol/errors.js';
import type { QuotaKind } from '../disk/disk-quota.js';
import { mountQuotaFilesystem, quotaKinds, type QuotaFilesystem } from '../disk/test-support/quota-filesystem.js';
import { createHarness, type Harness } from './test-support/harness.js';

const MiB = 1024 * 1024;

function suite(kind: QuotaKind, supported: boolean) {
  describe.skipIf(!supported)(`RUN steps on ${kind}${supported ? '' : ' (skipped: this kernel cannot mount it with quotas)'}`, () => {
    let fs: QuotaFilesystem;
    let h: Harness;

    beforeAll(async () => {
      fs = await mountQuotaFilesystem(kind, 'build-quota');
      h = await createHarness(`quota-${kind}`, { dataDir: fs.dataDir });
    });

    afterAll(async () => {
      await h?.close();
      await fs?.remove();
    });

    it('stops a RUN at its disk bound with a learner error, and builds one within it', async () => {
      const small = h.builderWith({ writableLayerBytes: 8 * MiB });
      const { error, events } = await h.buildFails('FROM busybox\nRUN echo start\nRUN dd if=/dev/zero of=/big bs=1M count=64\n', {}, small);
      expect((error as LearnerError).key).toBe('build.stepDiskLimit');
      expect((error as LearnerError).facts).toMatchObject({ line: 3, limit: '8 MiB' });
      // The command's own words reached the build log too.
      const log = events.ofType('build.log').map((e) => e.text).join('');
      expect(log).toMatch(/quota exceeded/i);
      expect(await h.leftovers()).toEqual([]);

      const built = await h.build('FROM busybox\nRUN dd if=/dev/zero of=/fits bs=1M count=4\n', {}, small);
      expect((await h.inImage(built.imageId, 'wc -c < "$ROOT/fits"')).trim()).toBe(String(4 * MiB));
      expect(await h.leftovers()).toEqual([]);
    });
  });
}

for (const { kind, supported } of quotaKinds) suite(kind, supported);
