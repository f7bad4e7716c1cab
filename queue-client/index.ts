/** The gateway's half of the queue: everything the site needs to talk to the engine through Redis. */
export { bullmqConnection, closeRedis, connectRedis, redisOptions } from './connection.js';
export { JobDispatcher, type Enqueued } from './dispatcher.js';
export { hostForSession, liveHosts, NoLiveHostError, pinnedHost, type HostInfo, type PinOptions, type SessionHost } from './hosts.js';
export * from './names.js';
export { internalErrorOf, OutcomeTimeoutError, readOutcome, waitForOutcome, type FinishedJob, type WaitOptions } from './outcome.js';
export { DURATIONS_KEPT, queuePosition, type QueuePosition } from './queue-position.js';
export { decodeRunEvents, readRunEvents, type ReadOptions } from './run-events.js';
export {
  InputBudget,
  readTerminalOutput,
  requestTerminal,
  TerminalInputWriter,
  TerminalRequestTimeout,
  terminalKeys,
  terminalSession,
  TERMINAL_SCROLLBACK_BYTES,
  VIEWER_HEARTBEAT_MS,
  type OutputRead,
  type OutputRecord,
  type TerminalRequestReply,
} from './terminal-streams.js';
export { signTerminalToken, terminalEndpointOf, TERMINAL_TOKEN_TTL_MS, type TerminalClaims } from './terminal-token.js';
