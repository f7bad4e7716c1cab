// `container-op`: one operation on the session's containers, through the containers API (which
// emits their events: container.diff, layer.committed, container.stats, container.removed…).
// Names and ids resolve in the job's session only (Containers looks nowhere else).
import type { ContainerOpResult } from '../../../../protocol/results.js';
import { isLearnerError } from '../../../../protocol/errors.js';
import { Containers } from '../../containers/index.js';
import { treeBytes } from '../../sessions/quotas.js';
import { containerSummaryOf } from './container-views.js';
import type { JobHandler } from './types.js';

/** Most changes a diff result carries (the container.diff event carries fewer; see containers.ts). */
const DIFF_MAX = 5000;
/** Most bytes of output `logs` returns through the queue (the attach stream has the rest). */
const LOG_BYTES_MAX = 256 * 1024;

/** A log piece: the bytes (a plain Buffer, or a chunk that also says which stream it came from). */
function bytesOf(piece: Buffer | { data: Buffer }): Buffer {
  return Buffer.isBuffer(piece) ? piece : piece.data;
}

export const handleContainerOp: JobHandler<'container-op'> = async (input, { engine, events, signal }): Promise<ContainerOpResult> => {
  const containers = new Containers({ ...engine, session: input.sessionId, events });
  /** After an op that may have removed it (`--rm`): its summary, or null. */
  const summaryOrNull = async (id: string) => {
    try {
      return containerSummaryOf(await containers.inspect(id));
    } catch (err) {
      if (isLearnerError(err) && err.key === 'container.notFound') return null;
      throw err;
    }
  };
  if (input.op === 'list') {
    return { op: 'list', containers: (await containers.list({ all: true })).map(containerSummaryOf) };
  }
  const info = await containers.inspect(input.container);
  const { id } = info;
  switch (input.op) {
    case 'inspect': {
      const image = await engine.store.inspect(info.imageId);
      return {
        op: 'inspect',
        container: {
          ...containerSummaryOf(info),
          layers: image.layers.map((layer, index) => ({ index, diffId: layer.diffId, chainId: layer.chainId, sizeBytes: layer.size })),
          writableLayer: { sizeBytes: await treeBytes(info.paths.upper), limitBytes: info.limits.writableLayerBytes, enforced: info.diskQuota },
          lastActivityAt: info.lastActivityAt,
        },
      };
    }
    case 'stop':
      return { op: 'stop', containerId: id, exit: await containers.stop(id, input.graceMs === undefined ? {} : { graceMs: input.graceMs }) };
    case 'kill':
      await containers.kill(id, input.signal ?? 'SIGKILL');
      return { op: 'kill', containerId: id, container: await summaryOrNull(id) };
    case 'rm':
      // Containers.remove announces container.removed itself: once per removal.
      await containers.remove(id, { force: input.force });
      return { op: 'rm', removed: id };
    case 'pause':
      await containers.pause(id);
      return { op: 'pause', container: containerSummaryOf(await containers.inspect(id)) };
    case 'unpause':
      await containers.unpause(id);
      return { op: 'unpause', container: containerSummaryOf(await containers.inspect(id)) };
    case 'diff': {
      const [changes, sizeBytes] = await Promise.all([containers.diff(id), treeBytes(info.paths.upper)]);
      return {
        op: 'diff',
        containerId: id,
        changes: changes.slice(0, DIFF_MAX).map((c) => ({ kind: c.kind, path: c.path })),
        total: changes.length,
        truncated: changes.length > DIFF_MAX,
        sizeBytes,
      };
    }
    case 'commit': {
      const { imageId, tag, layer } = await containers.commit(id, { reference: input.commitTag });
      const counts = layer.changes ?? { added: 0, changed: 0, deleted: 0 };
      return { op: 'commit', imageId, tag, layer: { chainId: layer.chainId, diffId: layer.diffId, sizeBytes: layer.size, ...counts } };
    }
    case 'stats':
      return { op: 'stats', stats: await containers.stats(id, { signal }) };
    case 'touch':
      await containers.touch(id);
      return { op: 'touch', containerId: id, lastActivityAt: (await containers.inspect(id)).lastActivityAt };
    case 'logs': {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const piece of await containers.logs(id, { tail: input.tail, signal })) {
        const chunk = bytesOf(piece);
        chunks.push(chunk);
        size += chunk.length;
        // Keep only the end: the last lines are what the learner asked for.
        while (size - chunks[0]!.length >= LOG_BYTES_MAX) size -= chunks.shift()!.length;
      }
      const all = Buffer.concat(chunks);
      const kept = all.length > LOG_BYTES_MAX ? all.subarray(all.length - LOG_BYTES_MAX) : all;
      return { op: 'logs', containerId: id, text: kept.toString('utf8'), truncated: kept.length < all.length };
    }
  }
};
