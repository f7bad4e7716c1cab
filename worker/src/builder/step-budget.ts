// What a build may leave on disk. A RUN step can make files far larger than the disk blocks they
// take (`truncate -s 1G` makes a sparse file in microseconds; the kernel's disk quota counts only
// allocated blocks), and turning the step into a layer then reads and hashes every zero of them,
// outside the step's time limit. So each step's upper is measured at its apparent size (file
// lengths, each inode once: a walk of lstat calls, no reading) before it is tarred and hashed, and
// refused early: beyond one step's bound (build.stepTooLarge), or beyond what the session's disk
// quota has left for the whole build, its intermediate images included (quota.layerBytesAdding).
import { existsSync } from 'node:fs';
import { LearnerError } from '../../../protocol/errors.js';
import { checkQuotas, measureUsage, treeBytes, type SessionQuotas, type SessionUsage } from '../sessions/quotas.js';
import { containerPaths, readAllRecords } from '../containers/record.js';
import type { ImageStore } from '../image-store/index.js';
import type { SessionImages } from '../sessions/images.js';
import type { QuotaSource } from '../sessions/image-ops.js';
import { formatBytes } from './format.js';

export class StepBudget {
  private addedBytes = 0;
  private usage: Promise<SessionUsage> | null = null;
  private imagesChecked = false;

  /** Measured when first needed: a fully cached rebuild measures nothing (it adds nothing). */
  constructor(
    private readonly store: ImageStore,
    private readonly session: SessionImages,
    private readonly quotas: SessionQuotas,
    private readonly stepBytes: number,
    /** The session's RUN --mount=type=cache dirs: they take the session's disk too. */
    private readonly cacheRoot?: string,
  ) {}

  /** The session's usage (its images, and its containers' writable layers), once per build. */
  private sessionUsage(): Promise<SessionUsage> {
    this.usage ??= (async () => {
      const { dataDir, session } = this.session;
      const uppers = (await readAllRecords(dataDir)).filter((r) => r.session === session).map((r) => containerPaths(dataDir, r.id).upper);
      const usage = await measureUsage(this.store, this.session, uppers);
      if (this.cacheRoot === undefined || !existsSync(this.cacheRoot)) return usage;
      return { ...usage, layerBytes: usage.layerBytes + (await treeBytes(this.cacheRoot)) };
    })();
    return this.usage;
  }

  /** For a FROM that pulls: the session's usage now (not the build's cached one) and its quotas. */
  quotaSource(): QuotaSource {
    const { dataDir, session } = this.session;
    return {
      sessionQuotas: this.quotas,
      usage: async () => {
        const uppers = (await readAllRecords(dataDir)).filter((r) => r.session === session).map((r) => containerPaths(dataDir, r.id).upper);
        return measureUsage(this.store, this.session, uppers);
      },
    };
  }

  /**
   * Before the build's first new image (its first cache miss): the image it will end with must
   * fit the session's image count. A fully cached rebuild makes no image and measures nothing.
   */
  async admitNewImages(): Promise<void> {
    if (this.imagesChecked) return;
    checkQuotas(await this.sessionUsage(), this.quotas, { images: 1 });
    this.imagesChecked = true;
  }

  /** After a step that grew a cache mount by `bytes`: throws when the session's disk quota has no room for it. */
  async admitGrowth(bytes: number): Promise<void> {
    if (bytes <= 0) return;
    checkQuotas(await this.sessionUsage(), this.quotas, { bytes: this.addedBytes + bytes });
    this.addedBytes += bytes;
  }

  /** Before a step's upper becomes a layer: throws (without reading a byte of content) when it is too large. */
  async admit(upper: string): Promise<void> {
    const size = await treeBytes(upper);
    if (size > this.stepBytes) throw new LearnerError('build.stepTooLarge', { size: formatBytes(size), limit: formatBytes(this.stepBytes) });
    checkQuotas(await this.sessionUsage(), this.quotas, { bytes: this.addedBytes + size });
    this.addedBytes += size;
  }
}
