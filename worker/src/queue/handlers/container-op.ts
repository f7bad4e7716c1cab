// `container-op`: one operation on one of the session's containers, through the containers API
// (which emits its events: container.diff, layer.committed, container.stats, container.exited…).
import { Containers } from '../../containers/index.js';
import type { JobHandler } from './types.js';

/** Last lines of output `logs` returns through the queue (the attach stream has the rest). */
const LOG_LINES = 200;

export const handleContainerOp: JobHandler<'container-op', unknown> = async (input, { engine, events, signal }) => {
  const containers = new Containers({ ...engine, session: input.sessionId, events });
  const ref = input.container;
  switch (input.op) {
    case 'stop':
      return containers.stop(ref);
    case 'kill':
      await containers.kill(ref, input.signal ?? 'SIGKILL');
      return containers.inspect(ref);
    case 'rm': {
      const { id } = await containers.inspect(ref);
      await containers.remove(ref, { force: input.force });
      events.emit({ type: 'container.removed', containerId: id });
      return { removed: id };
    }
    case 'pause':
      await containers.pause(ref);
      return containers.inspect(ref);
    case 'unpause':
      await containers.unpause(ref);
      return containers.inspect(ref);
    case 'diff':
      return containers.diff(ref);
    case 'commit':
      return containers.commit(ref, { reference: input.commitTag });
    case 'stats':
      return containers.stats(ref, { signal });
    case 'logs': {
      const chunks: Buffer[] = [];
      for await (const chunk of await containers.logs(ref, { tail: LOG_LINES, signal })) chunks.push(chunk.data);
      return { text: Buffer.concat(chunks).toString('utf8') };
    }
  }
};
