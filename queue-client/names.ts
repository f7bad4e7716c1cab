// Every Redis name the queue uses, derived in one place so the gateway and the worker agree.
// All keys start with the deployment's prefix (default `layercake`), BullMQ's included, so
// tests and several deployments can share one Redis without seeing each other.

/** A host id becomes part of a queue name and Redis keys: no ':' and nothing surprising. */
export const hostIdPattern = /^[a-z0-9][a-z0-9.-]{0,62}$/;

/** BullMQ forbids ':' in queue names (it separates key parts): `host.<id>`. */
export function hostQueueName(hostId: string): string {
  if (!hostIdPattern.test(hostId)) throw new Error(`invalid host id: ${hostId}`);
  return `host.${hostId}`;
}

/**
 * Container and image operations (stop, rm, commit, list, diff, stats…) have a lane of their own on
 * each host, `host-ops.<id>`, with its own concurrency: a learner's Stop never waits behind
 * another learner's long build. (Not `host.<id>.ops`: host ids may hold dots.)
 */
export function hostOpsQueueName(hostId: string): string {
  if (!hostIdPattern.test(hostId)) throw new Error(`invalid host id: ${hostId}`);
  return `host-ops.${hostId}`;
}

/** Job names that go to the operations lane; everything else (build, run, vm…) to the host queue. */
export const OPERATION_JOBS: ReadonlySet<string> = new Set(['container-op', 'image-op']);

/** The queue a job of `name` goes to on its host. */
export function queueOfJob(hostId: string, name: string): string {
  return OPERATION_JOBS.has(name) ? hostOpsQueueName(hostId) : hostQueueName(hostId);
}

/** The socket.io room of a run (STYLE.md): the gateway relays the run's stream into it. */
export function runRoom(runId: string): string {
  return `run:${runId}`;
}

/** The Redis stream holding a run's events: the room name under the prefix. */
export function runStreamKey(prefix: string, runId: string): string {
  return `${prefix}:events:${runRoom(runId)}`;
}

/** Registry of live hosts: an index (set) plus one expiring key per host, the truth. */
export function hostsIndexKey(prefix: string): string {
  return `${prefix}:hosts`;
}
export function hostKey(prefix: string, hostId: string): string {
  return `${prefix}:host:${hostId}`;
}

/** Which host a learner session lives on. */
export function sessionPinKey(prefix: string, sessionId: string): string {
  return `${prefix}:session:${sessionId}:host`;
}

/** Containers a host's `run` jobs started, and the run each reports its exit to. */
export function containerRunsKey(prefix: string, hostId: string): string {
  return `${prefix}:host:${hostId}:container-runs`;
}

/** The last durations (ms) of one job name's jobs on a host, newest first: queue-position.ts's estimate. */
export function jobDurationsKey(prefix: string, hostId: string, jobName: string): string {
  return `${prefix}:host:${hostId}:durations:${jobName}`;
}
