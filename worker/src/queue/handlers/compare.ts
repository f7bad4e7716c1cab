// `compare`: the seed's table (host vs container vs VM) measured live on this host
// (worker/src/vm/compare.ts). The container column is one of the session's own containers,
// removed when it exits; the VM is killed with the job.
import { Containers } from '../../containers/index.js';
import { SessionImages } from '../../sessions/images.js';
import { compareMachines } from '../../vm/compare.js';
import type { JobHandler } from './types.js';

export const handleCompare: JobHandler<'compare'> = async (input, { engine, events, signal, log }) => {
  const imageId = await new SessionImages(engine.store, input.sessionId, engine.dataDir).resolve(input.image);
  const containers = new Containers({ ...engine, session: input.sessionId, events });
  return compareMachines(
    {
      store: engine.store,
      containers,
      vmHost: { dataDir: engine.dataDir, idRanges: engine.idRanges, log },
      signal,
      onMachine: (machine, phase, run) =>
        events.emit({ type: 'compare.machine', machine, phase, ...(run ? { ms: run.ms } : {}), ...(run?.error ? { error: run.error } : {}) }),
    },
    imageId,
    input.image,
  );
};
