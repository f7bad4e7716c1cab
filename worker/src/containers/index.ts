/** A learner session's containers: `new Containers({ dataDir, store, runtime, idRanges, session })`. */
export {
  Containers,
  createRequestSchema,
  type CommitRequest,
  type CommitResult,
  type ContainerEngine,
  type ContainerInfo,
  type ContainersOptions,
  type ContainerStats,
  type CreateRequest,
  type ExecRequest,
  type ExecSession,
  type StartOptions,
} from './containers.js';
export { ContainerAttachment } from './attachment.js';
export type { LogChunk } from './logs.js';
export { reapIdleContainers, type ReapedContainer } from './idle-reaper.js';
export { containerImageUsers } from './image-users.js';
export { StartError } from './launch.js';
export { type LimitRequest, defaultContainerLimits } from './container-limits.js';
export { type ExitState, type LiveStatus } from './reconcile.js';
export { type ContainerLimits, type ContainerRecord, type NetworkMode } from './record.js';
export { normaliseSignal } from './signals.js';
export { shortId } from './names.js';
