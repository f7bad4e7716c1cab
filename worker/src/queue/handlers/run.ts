// `run`: create and start a container of the session's image under a detached launcher, so it
// outlives this worker. The job ends once it runs; its exit reaches the run's events through the
// host's ContainerWatch; its terminal is relayed from the start (worker/src/terminals/).
import { Containers } from '../../containers/index.js';
import { containerSummaryOf } from './container-views.js';
import type { JobHandler } from './types.js';

export const handleRun: JobHandler<'run'> = async (input, { engine, events, watch, terminal, log }) => {
  const containers = new Containers({ ...engine, session: input.sessionId, events });
  const limits = {
    ...(input.memoryBytes ? { memoryBytes: input.memoryBytes } : {}),
    ...(input.pidsMax ? { pidsMax: input.pidsMax } : {}),
    ...(input.cpus ? { cpus: input.cpus } : {}),
  };
  const { container, attachment } = await containers.run(
    {
      image: input.image,
      ...(input.name ? { name: input.name } : {}),
      ...(input.cmd ? { cmd: input.cmd } : {}),
      env: input.env,
      tty: input.tty,
      openStdin: true,
      autoRemove: input.removeOnExit,
      egress: input.egress ?? true,
      limits,
    },
    {
      ...(input.tty ? { consoleSize: { rows: input.rows, cols: input.cols } } : {}),
      // The terminal's relay is attached before the start, so the learner sees the first prompt.
      ...(terminal ? { attach: true } : {}),
    },
  );
  if (attachment) {
    await terminal!(container.id, input.sessionId, attachment).catch((err: unknown) => {
      attachment.detach();
      log.warn({ err, container: container.id }, 'terminal relay not started with the container');
    });
  }
  await watch?.(container.id, input.sessionId, input.runId);
  const { id, shortId, name, image, imageId, status, limits: applied, cpus } = containerSummaryOf(container);
  return { id, shortId, name, image, imageId, status, limits: applied, cpus };
};
