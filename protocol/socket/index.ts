// Socket.io messages between the browser and the gateway, one file per feature, each a zod
// schema for what the browser sends (validated by the gateway before anything else happens)
// and a type for what the gateway sends back. Event names are `<feature>:<verb>`.
//   common.ts     the reply envelope, size bound, shared refusals, the session cookie
//   files.ts      the learner's build context (workspace) — list, read, write, rename, delete
//   runs.ts       build/run/container/image requests, run subscriptions ("after seq N"), queue position
//   terminal.ts   terminal attach, input, resize, acks (flow control), output frames
import type { FilesReplies } from './files.js';
import type { RunsReplies } from './runs.js';
import type { TerminalReplies } from './terminal.js';

export * from './common.js';
export * from './files.js';
export * from './runs.js';
export * from './terminal.js';

/** Every request event and what its `{ ok: true }` reply carries; a feature adds its own here. */
export interface SocketReplies extends FilesReplies, RunsReplies, TerminalReplies {}
