// The one socket.io client of the browser: every widget talks to the gateway through here, so
// reconnecting, the session cookie, size checks and run subscriptions are handled once.
//
//   request('files:write', { path, content })  → Promise<SocketReply<…>>  (never rejects)
//   on('files:changed', handler)               → unsubscribe function
//   followRun(runId, { onEvent, onQueued, onDone })  → stop function; resumes after the last
//                                                 seq seen on every reconnect, never twice (a run
//                                                 this socket started arrives from its start unasked)
//   uploadFile(path, blob)                     → Promise<SocketReply<{ file }>>
//   onConnection(handler)                      → connected / disconnected changes
// The session is the httpOnly cookie (sent by the browser with the handshake), never a field.
import { io, type Socket } from 'socket.io-client';
import { formatBytes, type ErrorPayload, type LearnerErrorPayload } from '../../../protocol/errors.js';
import type { EngineEvent } from '../../../protocol/events.js';
import { FOLLOWS_STARTED_RUNS } from '../../../protocol/socket/runs.js';
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

/**
 * What arrived for runs nobody follows yet: the gateway sends a run this socket started from its
 * first event on (FOLLOWS_STARTED_RUNS), and with the polling transport those can come in the
 * same batch as the reply, before followRun is called. Bounded, and forgotten after a minute.
 */
const unclaimed = new Map<string, { at: number; events: RunEvent[]; done: RunDone | null }>();
const followers = new Map<string, number>();
const UNCLAIMED_RUNS = 32;
const UNCLAIMED_EVENTS = 2_000;
const UNCLAIMED_MS = 60_000;

function keepUnclaimed(runId: string, keep: (entry: { events: RunEvent[]; done: RunDone | null }) => void): void {
  if (followers.has(runId)) return;
  const now = Date.now();
  for (const [id, entry] of unclaimed) if (now - entry.at > UNCLAIMED_MS) unclaimed.delete(id);
  let entry = unclaimed.get(runId);
  if (!entry) {
    if (unclaimed.size >= UNCLAIMED_RUNS) unclaimed.delete(unclaimed.keys().next().value!);
    entry = { at: now, events: [], done: null };
    unclaimed.set(runId, entry);
  }
  keep(entry);
}

function learner(key: string, facts: LearnerErrorPayload['facts'] = {}): { ok: false; error: ErrorPayload } {
  return { ok: false, error: { kind: 'learner', key, facts } };
}

/** The shared connection, created on first use (in the browser only). */
export function getSocket(): Socket {
  if (socket) return socket;
  const s = io({ path: SOCKET_PATH, withCredentials: true, transports: ['websocket', 'polling'], auth: { [FOLLOWS_STARTED_RUNS]: true } });
  // Registered before anything else listens: nothing of a run started here is missed.
  s.on('runs:event', (m: RunEvent) => keepUnclaimed(m.runId, (e) => void (e.events.length < UNCLAIMED_EVENTS && e.events.push(m))));
  s.on('runs:done', (m: RunDone) => keepUnclaimed(m.runId, (e) => (e.done = m)));
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
  followers.set(runId, (followers.get(runId) ?? 0) + 1);
  // A run this socket started: what came before this call, first.
  const kept = unclaimed.get(runId);
  unclaimed.delete(runId);
  for (const m of kept?.events ?? []) onEvent(m);
  if (kept?.done) onDone(kept.done);
  if (s.connected) void subscribe();
  return () => {
    stopped = true;
    const n = (followers.get(runId) ?? 1) - 1;
    if (n > 0) followers.set(runId, n);
    else followers.delete(runId);
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
