// Stops containers nobody has used for a while (no start, attach input or exec for their
// idleTimeoutMs), so a learner who closed the tab does not hold memory and CPU all night. The
// worker calls this periodically; it looks at every session's containers on this host.
import { stat } from 'node:fs/promises';
import type { EventSink } from '../events.js';
import { Containers, type ContainerEngine } from './containers.js';
import { containerPaths, readAllRecords } from './record.js';

export interface ReapedContainer {
  id: string;
  session: string;
  name: string;
  idleMs: number;
}

export async function reapIdleContainers(
  engine: ContainerEngine,
  options: { now?: number; events?: (session: string) => EventSink } = {},
): Promise<ReapedContainer[]> {
  const now = options.now ?? Date.now();
  const reaped: ReapedContainer[] = [];
  for (const record of await readAllRecords(engine.dataDir)) {
    if (record.state.status !== 'running') continue;
    const activity = await stat(containerPaths(engine.dataDir, record.id).activity).catch(() => null);
    const last = Math.max(activity?.mtimeMs ?? 0, Date.parse(record.state.startedAt ?? record.created));
    const idleMs = now - last;
    if (idleMs < record.limits.idleTimeoutMs) continue;
    const containers = new Containers({ ...engine, session: record.session, ...(options.events ? { events: options.events(record.session) } : {}) });
    try {
      await containers.stop(record.id);
      reaped.push({ id: record.id, session: record.session, name: record.name, idleMs });
    } catch (err) {
      // Removed meanwhile, or already stopped: nothing to reap. Anything else is worth a line.
      engine.log?.warn({ err, container: record.id }, 'idle reaper could not stop a container');
    }
  }
  return reaped;
}
