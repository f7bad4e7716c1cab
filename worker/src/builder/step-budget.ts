// What a build may leave on disk. A RUN step can make files far larger than the disk blocks they
// take (`truncate -s 1G` makes a sparse file in microseconds; the kernel's disk quota counts only
// allocated blocks), and turning the step into a layer then reads and hashes every zero of them,
// outside the step's time limit. So each step's upper is measured at its apparent size (file
// lengths, each inode once: a walk of lstat calls, no reading) before it is tarred and hashed, and
// refused early: beyond one step's bound (build.stepTooLarge), or beyond what the session's disk
// quota has left for the whole build, its intermediate images included (quota.layerBytesAdding).
import { LearnerError } from '../../../protocol/errors.js';
import { checkQuotas, measureUsage, treeBytes, type SessionQuotas, type SessionUsage } from '../containers/quotas.js';
import { containerPaths, readAllRecords } from '../containers/record.js';
import type { ImageStore } from '../image-store/index.js';
import type { SessionImages } from '../session-images.js';
import { formatBytes } from './format.js';

export class StepBudget {
  private addedBytes = 0;

  private constructor(
    private readonly usage: SessionUsage,
    private readonly quotas: SessionQuotas,
    private readonly stepBytes: number,
  ) {}

  /** The session's usage now (its images, and its containers' writable layers) against its quotas. */
  static async forSession(store: ImageStore, session: SessionImages, quotas: SessionQuotas, stepBytes: number): Promise<StepBudget> {
    const uppers = (await readAllRecords(session.dataDir)).filter((r) => r.session === session.session).map((r) => containerPaths(session.dataDir, r.id).upper);
    return new StepBudget(await measureUsage(store, session, uppers), quotas, stepBytes);
  }

  /** Before a build: the image it makes must fit the session's image count and disk. */
  checkStart(): void {
    checkQuotas(this.usage, this.quotas, { images: 1 });
  }

  /** Before a step's upper becomes a layer: throws (without reading a byte of content) when it is too large. */
  async admit(upper: string): Promise<void> {
    const size = await treeBytes(upper);
    if (size > this.stepBytes) throw new LearnerError('build.stepTooLarge', { size: formatBytes(size), limit: formatBytes(this.stepBytes) });
    checkQuotas(this.usage, this.quotas, { bytes: this.addedBytes + size });
    this.addedBytes += size;
  }
}
