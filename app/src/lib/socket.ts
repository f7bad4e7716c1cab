// The one socket.io client of the browser: every widget talks to the gateway through here, so
// reconnecting, the session cookie, size checks and run subscriptions are handled once.
//
//   request('files:write', { path, content })  → Promise<SocketReply<…>>  (never rejects)
//   on('files:changed', handler)               → unsubscribe function
//   followRun(runId, { onEvent, onQueued, onDone })  → stop function; resumes after the last
//                                                 seq seen on every reconnect, never twice
//   uploadFile(path, blob)                     → Promise<SocketReply<{ file }>>
//   onConnection(handler)                      → connected / disconnected changes
// The session is the httpOnly cookie (sent by the browser with the handshake), never a field.
import { io, type Socket } from 'socket.io-client';
import { formatBytes, type ErrorPayload, type LearnerErrorPayload } from '../../../protocol/errors.js';
import type { EngineEvent } from '../../../protocol/events.js';
import {
  FILES_UPLOAD_PATH,
  SESSION_PATH,
  SOCKET_MESSAGE_MAX_BYTES,
  SOCKET_PATH,
  type FileInfo,
  type FilesChanged,
  type RunDone,
  type RunEvent,
  type RunQueued,
  type SocketReplies,
  type SocketReply,
} from '../../../protocol/socket/index.js';

/** What the gateway pushes without being asked. */
export interface ServerPushes {
  'files:changed': FilesChanged;
  'runs:event': RunEvent;
  'runs:queued': RunQueued;
  'runs:done': RunDone;
  [event: string]: unknown;
}

const DEFAULT_TIMEOUT_MS = 30_000;

let socket: Socket | null = null;
let sessionRenewedAt = 0;

function learner(key: string, facts: LearnerErrorPayload['facts'] = {}): { ok: false; error: ErrorPayload } {
  return { ok: false, error: { kind: 'learner', key, facts } };
}

/** The shared connection, created on first use (in the browser only). */
export function getSocket(): Socket {
  if (socket) return socket;
  const s = io({ path: SOCKET_PATH, withCredentials: true, transports: ['websocket', 'polling'] });
  s.on('connect_error', (err: Error & { data?: { key?: string } }) => {
    // No or a stale cookie: have the gateway issue one, then try again (at most every 5 s).
    if (err.data?.key !== 'session.missing' || Date.now() - sessionRenewedAt < 5_000) return;
    sessionRenewedAt = Date.now();
    void fetch(SESSION_PATH, { credentials: 'same-origin' }).then(() => s.connect(), () => undefined);
  });
  socket = s;
  return s;
}

/**
 * Sends one request and resolves with the gateway's reply, or with a learner error when the
 * message is too large, the connection is down or no answer came in time. Never rejects.
 */
export async function request<E extends keyof SocketReplies & string>(
  event: E,
  payload: unknown,
  options: { timeoutMs?: number } = {},
): Promise<SocketReply<SocketReplies[E]>> {
  const s = getSocket();
  const size = new TextEncoder().encode(JSON.stringify(payload) ?? '').length;
  if (size > SOCKET_MESSAGE_MAX_BYTES - 1024) {
    return learner('socket.tooLarge', { size: formatBytes(size), limit: formatBytes(SOCKET_MESSAGE_MAX_BYTES - 1024) });
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    return (await s.timeout(timeoutMs).emitWithAck(event, payload)) as SocketReply<SocketReplies[E]>;
  } catch {
    return s.connected ? learner('socket.timeout', { seconds: Math.round(timeoutMs / 1000) }) : learner('socket.offline');
  }
}

/** Listens for a pushed message; returns the function that stops listening. */
export function on<E extends keyof ServerPushes & string>(event: E, handler: (message: ServerPushes[E]) => void): () => void {
  const s = getSocket();
  const listener = handler as (...args: unknown[]) => void;
  s.on(event as string, listener);
  return () => void s.off(event as string, listener);
}

/** Connection state changes (for an "offline, reconnecting" notice). */
export function onConnection(handler: (connected: boolean) => void): () => void {
  const s = getSocket();
  const up = () => handler(true);
  const down = () => handler(false);
  s.on('connect', up);
  s.on('disconnect', down);
  handler(s.connected);
  return () => {
    s.off('connect', up);
    s.off('disconnect', down);
  };
}

export interface RunHandlers {
  onEvent?: (event: EngineEvent) => void;
  onQueued?: (queued: RunQueued) => void;
  onDone?: (done: RunDone) => void;
  /** The subscription was refused (e.g. runs.notFound). */
  onError?: (error: ErrorPayload) => void;
}

/**
 * Follows one run's events from `afterSeq` (-1: from the start). After a dropped connection it
 * subscribes again after the last seq it delivered, and drops anything at or below it, so each
 * event reaches the handler exactly once.
 */
export function followRun(runId: string, handlers: RunHandlers, afterSeq = -1): () => void {
  const s = getSocket();
  let lastSeq = afterSeq;
  let stopped = false;
  const subscribe = async () => {
    const reply = await request('runs:subscribe', { runId, afterSeq: lastSeq });
    if (!reply.ok && !stopped && reply.error.kind === 'learner' && reply.error.key !== 'socket.offline') handlers.onError?.(reply.error);
  };
  const onEvent = (m: RunEvent) => {
    if (m.runId !== runId || m.event.seq <= lastSeq) return;
    lastSeq = m.event.seq;
    handlers.onEvent?.(m.event);
  };
  const onQueued = (m: RunQueued) => m.runId === runId && handlers.onQueued?.(m);
  const onDone = (m: RunDone) => m.runId === runId && handlers.onDone?.(m);
  s.on('runs:event', onEvent);
  s.on('runs:queued', onQueued);
  s.on('runs:done', onDone);
  s.on('connect', subscribe);
  if (s.connected) void subscribe();
  return () => {
    stopped = true;
    s.off('runs:event', onEvent);
    s.off('runs:queued', onQueued);
    s.off('runs:done', onDone);
    s.off('connect', subscribe);
    if (s.connected) void request('runs:unsubscribe', { runId });
  };
}

/** Uploads one file (any bytes) into the workspace; the gateway stops reading at the limit. */
export async function uploadFile(path: string, body: Blob): Promise<SocketReply<{ file: FileInfo }>> {
  try {
    const res = await fetch(`${FILES_UPLOAD_PATH}?path=${encodeURIComponent(path)}`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    });
    return (await res.json()) as SocketReply<{ file: FileInfo }>;
  } catch {
    return learner('socket.offline');
  }
}
