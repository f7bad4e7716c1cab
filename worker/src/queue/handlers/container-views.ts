// A container as the gateway may see it: the engine's ContainerInfo without what is the host's
// (its paths, its init's host pid, the session id). protocol/results.ts is the shape.
import type { ContainerSummary } from '../../../../protocol/results.js';
import type { ContainerInfo } from '../../containers/index.js';

export function containerSummaryOf(c: ContainerInfo): ContainerSummary {
  return {
    id: c.id,
    shortId: c.shortId,
    name: c.name,
    image: c.image,
    imageId: c.imageId,
    command: c.command,
    created: c.created,
    status: c.status,
    startedAt: c.startedAt,
    finishedAt: c.finishedAt,
    exitCode: c.exitCode,
    oomKilled: c.oomKilled,
    timedOut: c.timedOut,
    ...(c.signal ? { signal: c.signal } : {}),
    ...(c.error ? { error: c.error } : {}),
    limits: { ...c.limits },
    cpus: c.cpus,
  };
}
