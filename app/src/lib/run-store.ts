// The browser's picture of the engine, folded from protocol events and nothing else: one
// RunState per run (a build or a container's run), and one SessionState for what outlives runs
// (the session's containers and images, refreshed from list replies and from events). Both are
// pure reducers, so they are tested without a browser; widgets render from them and never parse
// terminal text.
//
// Events carry a per-run `seq` (the Redis stream id, see worker/src/queue/run-events.ts). The
// reducer applies them in seq order exactly once: a seq already seen is dropped, one that
// arrives ahead of a gap waits in `pending` until the gap fills (or the subscription says the
// replay is complete: `settle`). A reconnecting client subscribes "after resumeAfter(state)".
import type { CacheReason, EngineEvent } from '../../../protocol/events';
import type { ErrorPayload } from '../../../protocol/errors';
import { printableDeep } from '../../../protocol/printable';
import type { ContainerDetail, HistoryRow, ImageSummary } from '../../../protocol/results';

type Ev<T extends EngineEvent['type']> = Extract<EngineEvent, { type: T }>;

/** What a committed layer holds, as layer.committed (or a build result) reports it. */
export interface LayerFacts {
  diffId: string;
  chainId: string;
  sizeBytes: number;
  added: number;
  changed: number;
  deleted: number;
}

export interface StepView {
  /** The seq of its build.step event: where its header goes in the build output. */
  seq: number;
  step: number;
  total: number;
  stage: string;
  instruction: string;
  /** The Dockerfile line the instruction starts on. */
  line: number;
  /** FROM takes an image rather than making a layer. */
  isFrom: boolean;
  status: 'running' | 'done' | 'failed';
  startedAt: string;
  endedAt?: string;
  cacheHit?: boolean;
  reason?: CacheReason;
  /** Absent for steps that change only the config (ENV, CMD…), and for FROM. */
  layer?: LayerFacts;
}

export interface LogChunk {
  seq: number;
  step: number;
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface BuildView {
  status: 'running' | 'finished' | 'failed';
  /** 0 until build.planned (or the first build.step) says. */
  totalSteps: number;
  stages: number;
  tags: string[];
  startedAt: string;
  steps: StepView[];
  /** The newest LOG_CHUNKS_KEPT chunks; a pane writes those with seq above what it wrote. */
  log: LogChunk[];
  imageId?: string;
  cachedSteps?: number;
  durationMs?: number;
  error?: ErrorPayload;
  failedStep?: number;
}

export interface ContainerLimitsView {
  memoryBytes: number;
  pidsMax: number;
  cpus: number;
  idleTimeoutMs: number;
}

export interface ContainerStatsView {
  memoryBytes: number;
  memoryLimitBytes: number;
  pids: number;
  pidsLimit: number;
  cpuPercent: number;
  at: string;
}

export interface ContainerExit {
  exitCode: number;
  oomKilled: boolean;
  timedOut: boolean;
  signal?: string;
}

export interface DiffChange {
  kind: 'A' | 'C' | 'D';
  path: string;
}

export interface ContainerDiff {
  changes: DiffChange[];
  truncated: boolean;
  /** The writable layer's size with these changes (a diff reply has it; the event does not). */
  sizeBytes?: number;
  at: string;
}

export type ContainerStatus = 'created' | 'running' | 'paused' | 'exited' | 'removed';

export interface ContainerView {
  id: string;
  name?: string;
  image?: string;
  status: ContainerStatus;
  startedAt?: string;
  limits?: ContainerLimitsView;
  stats?: ContainerStatsView;
  diff?: ContainerDiff;
  exit?: ContainerExit;
  /** The layer the last commit made of its writable layer. */
  committed?: LayerFacts;
}

export interface QueueView {
  position: number;
  etaMs: number;
}

export interface RunState {
  runId: string;
  /** The highest seq applied; -1 before the first event. */
  lastSeq: number;
  /** Events that arrived ahead of a gap, in seq order. */
  pending: EngineEvent[];
  /** While the job waits in the queue; cleared by its first event. */
  queue: QueueView | null;
  build: BuildView | null;
  containers: Record<string, ContainerView>;
  /** How the run's job ended (a run job ends once its container runs; its exit comes later). */
  outcome: { ok: true } | { ok: false; error: ErrorPayload } | null;
}

/** A build result's per-step facts (the job's return value); fills in cache hits' layers. */
export interface BuildResultStep {
  step: number;
  cacheHit: boolean | null;
  layer?: LayerFacts | undefined;
}

export type RunAction =
  | { type: 'event'; event: EngineEvent }
  | { type: 'queued'; position: number; etaMs: number }
  /** The server's replay is complete: apply what waits behind a gap the stream really has. */
  | { type: 'settle' }
  | { type: 'buildResult'; steps: BuildResultStep[] }
  | { type: 'done'; ok: true }
  | { type: 'done'; ok: false; error: ErrorPayload };

/** Chunks of build output the store keeps (the xterm pane has its own scrollback). */
export const LOG_CHUNKS_KEPT = 5000;

export function emptyRun(runId: string): RunState {
  return { runId, lastSeq: -1, pending: [], queue: null, build: null, containers: {}, outcome: null };
}

/** Subscribe "after this seq" to get exactly what this state has not seen. */
export function resumeAfter(state: RunState): number {
  return state.lastSeq;
}

export function runReducer(state: RunState, action: RunAction): RunState {
  switch (action.type) {
    case 'event':
      // A RUN's output goes to the build terminal as the program wrote it; every other event's
      // text (instructions, names, error facts) is shown outside a terminal, so made printable.
      return receive(state, action.event.type === 'build.log' ? action.event : printableDeep(action.event));
    case 'queued':
      // A position after the job started would be stale news from a slow relay.
      if (state.lastSeq >= 0) return state;
      return { ...state, queue: { position: action.position, etaMs: action.etaMs } };
    case 'settle': {
      let next: RunState = { ...state, pending: [] };
      for (const event of state.pending) if (event.seq > next.lastSeq) next = apply(next, event);
      return next;
    }
    case 'buildResult':
      return fillFromResult(state, action.steps);
    case 'done':
      return { ...state, queue: null, outcome: action.ok ? { ok: true } : { ok: false, error: printableDeep(action.error) } };
  }
}

/** Folds many events; the order they come in does not matter. */
export function foldEvents(state: RunState, events: readonly EngineEvent[]): RunState {
  return events.reduce((s, event) => receive(s, event), state);
}

function receive(state: RunState, event: EngineEvent): RunState {
  if (event.runId !== state.runId || event.seq <= state.lastSeq) return state;
  if (event.seq > state.lastSeq + 1) {
    if (state.pending.some((p) => p.seq === event.seq)) return state;
    const pending = [...state.pending, event].sort((a, b) => a.seq - b.seq);
    return { ...state, pending };
  }
  let next = apply(state, event);
  // Drain what the gap held back, now that it may be contiguous.
  while (next.pending.length > 0 && next.pending[0]!.seq <= next.lastSeq + 1) {
    const [head, ...rest] = next.pending;
    next = { ...next, pending: rest };
    if (head!.seq === next.lastSeq + 1) next = apply(next, head!);
  }
  return next;
}

function apply(state: RunState, event: EngineEvent): RunState {
  const next: RunState = { ...state, lastSeq: event.seq, queue: null };
  switch (event.type) {
    case 'build.started':
      return {
        ...next,
        build: { status: 'running', totalSteps: 0, stages: 0, tags: event.tags, startedAt: event.at, steps: [], log: [] },
      };
    case 'build.planned': {
      const build = buildOf(next, event);
      return { ...next, build: { ...build, totalSteps: event.steps, stages: event.stages } };
    }
    case 'build.step': {
      const build = closeRunning(buildOf(next, event), event.at);
      const step: StepView = {
        seq: event.seq,
        step: event.step,
        total: event.total,
        stage: event.stage,
        instruction: event.instruction,
        line: event.line,
        isFrom: /^\s*FROM\b/i.test(event.instruction),
        status: 'running',
        startedAt: event.at,
      };
      return { ...next, build: { ...build, totalSteps: event.total, steps: [...build.steps.filter((s) => s.step !== event.step), step] } };
    }
    case 'build.cache':
      return withStep(next, event, (s) => ({
        ...s,
        cacheHit: event.cacheHit,
        reason: event.reason,
        ...(event.cacheHit ? { status: 'done' as const, endedAt: event.at } : {}),
      }));
    case 'build.log': {
      const build = buildOf(next, event);
      const log = [...build.log, { seq: event.seq, step: event.step, stream: event.stream, text: event.text }];
      return { ...next, build: { ...build, log: log.length > LOG_CHUNKS_KEPT ? log.slice(-LOG_CHUNKS_KEPT) : log } };
    }
    case 'layer.committed': {
      const layer: LayerFacts = {
        diffId: event.diffId,
        chainId: event.chainId,
        sizeBytes: event.sizeBytes,
        added: event.added,
        changed: event.changed,
        deleted: event.deleted,
      };
      if (event.containerId !== undefined) return withContainer(next, event.containerId, (c) => ({ ...c, committed: layer }));
      if (event.step === undefined) return next;
      return withStep(next, { step: event.step, at: event.at }, (s) => ({ ...s, layer, status: 'done', endedAt: event.at }));
    }
    case 'build.finished': {
      const build = closeRunning(buildOf(next, event), event.at);
      return {
        ...next,
        build: { ...build, status: 'finished', imageId: event.imageId, tags: event.tags, cachedSteps: event.cachedSteps, totalSteps: event.totalSteps, durationMs: event.durationMs },
      };
    }
    case 'build.failed': {
      const build = buildOf(next, event);
      const steps = build.steps.map((s) =>
        s.step === event.step || (event.step === undefined && s.status === 'running') ? { ...s, status: 'failed' as const, endedAt: event.at } : s,
      );
      return { ...next, build: { ...build, status: 'failed', steps, error: event.error, ...(event.step !== undefined ? { failedStep: event.step } : {}) } };
    }
    case 'container.created':
      return withContainer(next, event.containerId, (c) => ({ ...c, name: event.name, image: event.image, status: c.status === 'removed' ? c.status : 'created' }));
    case 'container.started':
      return withContainer(next, event.containerId, (c) => {
        const { exit: _previous, ...rest } = c;
        return { ...rest, image: event.image, status: 'running', startedAt: event.at, limits: event.limits };
      });
    case 'container.diff':
      return withContainer(next, event.containerId, (c) => ({ ...c, diff: { changes: event.changes, truncated: event.truncated, at: event.at } }));
    case 'container.stats':
      return withContainer(next, event.containerId, (c) => ({ ...c, stats: statsOf(event) }));
    case 'container.exited':
      return withContainer(next, event.containerId, (c) => ({
        ...c,
        status: c.status === 'removed' ? 'removed' : 'exited',
        exit: { exitCode: event.exitCode, oomKilled: event.oomKilled, timedOut: event.timedOut, ...(event.signal ? { signal: event.signal } : {}) },
      }));
    case 'container.paused':
      return withContainer(next, event.containerId, (c) => ({ ...c, status: c.status === 'running' ? 'paused' : c.status }));
    case 'container.unpaused':
      return withContainer(next, event.containerId, (c) => ({ ...c, status: c.status === 'paused' ? 'running' : c.status }));
    case 'container.removed':
      return withContainer(next, event.containerId, (c) => ({ ...c, status: 'removed' }));
    // What the playground does not draw (VMs, pull progress, package-archive use, and any event
    // a newer engine adds) only advances seq: the page keeps working beside a newer worker.
    default:
      return next;
  }
}

function statsOf(event: Ev<'container.stats'>): ContainerStatsView {
  return {
    memoryBytes: event.memoryBytes,
    memoryLimitBytes: event.memoryLimitBytes,
    pids: event.pids,
    pidsLimit: event.pidsLimit,
    cpuPercent: event.cpuPercent,
    at: event.at,
  };
}

/** The run's build, or one started from this event when the stream's start is not ours. */
function buildOf(state: RunState, event: { at: string }): BuildView {
  return state.build ?? { status: 'running', totalSteps: 0, stages: 0, tags: [], startedAt: event.at, steps: [], log: [] };
}

/** The step that was running ends when the next begins or the build ends. */
function closeRunning(build: BuildView, at: string): BuildView {
  if (!build.steps.some((s) => s.status === 'running')) return build;
  return { ...build, steps: build.steps.map((s) => (s.status === 'running' ? { ...s, status: 'done', endedAt: at } : s)) };
}

function withStep(state: RunState, event: { step: number; at: string }, change: (s: StepView) => StepView): RunState {
  const build = buildOf(state, event);
  if (!build.steps.some((s) => s.step === event.step)) return { ...state, build };
  return { ...state, build: { ...build, steps: build.steps.map((s) => (s.step === event.step ? change(s) : s)) } };
}

function withContainer(state: RunState, id: string, change: (c: ContainerView) => ContainerView): RunState {
  const current = state.containers[id] ?? { id, status: 'created' as const };
  return { ...state, containers: { ...state.containers, [id]: change(current) } };
}

function fillFromResult(state: RunState, steps: BuildResultStep[]): RunState {
  if (state.build === null) return state;
  const byStep = new Map(steps.map((s) => [s.step, s]));
  const filled = state.build.steps.map((s) => {
    const r = byStep.get(s.step);
    return r?.layer !== undefined && s.layer === undefined ? { ...s, layer: r.layer } : s;
  });
  return { ...state, build: { ...state.build, steps: filled } };
}

/** How long a step took, once it ended. */
export function stepDurationMs(step: StepView): number | null {
  if (step.endedAt === undefined) return null;
  return Math.max(0, Date.parse(step.endedAt) - Date.parse(step.startedAt));
}

/** The step that made the layer for a Dockerfile line (the gutter's "jump to layer"). */
export function stepForLine(build: BuildView | null, line: number): StepView | null {
  if (build === null) return null;
  return build.steps.find((s) => s.line === line) ?? null;
}

// ---------------------------------------------------------------------------------------------
// Session-level state: what the session has, across runs.

/** One row of the session's `docker ps -a`, as runs:container list replies. */
export interface SessionContainer {
  id: string;
  name: string;
  image: string;
  imageId?: string;
  status: ContainerStatus;
  exitCode?: number;
  oomKilled?: boolean;
  timedOut?: boolean;
  startedAt?: string | null;
  /** The engine's last activity (attach input, exec, start), as last listed. */
  lastActivityAt?: string | null;
  idleTimeoutMs?: number;
  /** The host's wall-clock limit per start (absent: none): the engine stops it then, activity or not. */
  timeLimitMs?: number;
  /** The run whose events report this container, when this browser started it. */
  runId?: string;
}

/** One row of `docker images` and of `docker history`, as the engine's results give them. */
export type ImageRow = ImageSummary;
export type { HistoryRow };

export interface LayerSelection {
  runId: string;
  step: number;
}

export interface SessionState {
  containers: Record<string, SessionContainer>;
  /** null until first listed. */
  images: ImageRow[] | null;
  history: Record<string, HistoryRow[]>;
  /** An event said the list changed: the views ask for it again. */
  stale: { images: boolean; containers: boolean };
  /** Activity this browser caused (keep working, a terminal keystroke), ms since epoch. */
  touchedAt: Record<string, number>;
  /** The layer shown in detail; the editor's gutter sets it too. */
  selection: LayerSelection | null;
  /** The newest diff and stats of each container, from polls (op replies) and events alike. */
  live: Record<string, { diff?: ContainerDiff; stats?: ContainerStatsView }>;
  /** `inspect` of each container: its image's layers under its writable layer. */
  details: Record<string, ContainerDetail>;
}

export type SessionAction =
  | { type: 'containersListed'; containers: SessionContainer[] }
  | { type: 'imagesListed'; images: ImageRow[] }
  | { type: 'historyLoaded'; imageId: string; rows: HistoryRow[] }
  | { type: 'event'; event: EngineEvent }
  | { type: 'touched'; containerId: string; atMs: number }
  | { type: 'containerRun'; containerId: string; runId: string }
  | { type: 'select'; selection: LayerSelection | null }
  | { type: 'diffRead'; containerId: string; diff: ContainerDiff }
  | { type: 'inspected'; detail: ContainerDetail }
  | { type: 'statsRead'; containerId: string; stats: ContainerStatsView };

export function emptySession(): SessionState {
  return { containers: {}, images: null, history: {}, stale: { images: true, containers: true }, touchedAt: {}, selection: null, live: {}, details: {} };
}

export function sessionReducer(state: SessionState, action: SessionAction): SessionState {
  switch (action.type) {
    case 'containersListed': {
      // A list is the truth about which containers exist; keep what only this browser knows.
      const containers: Record<string, SessionContainer> = {};
      for (const c of action.containers) {
        const known = state.containers[c.id];
        const runId = c.runId ?? known?.runId;
        const idleTimeoutMs = c.idleTimeoutMs ?? known?.idleTimeoutMs;
        const timeLimitMs = c.timeLimitMs ?? known?.timeLimitMs;
        const lastActivityAt = c.lastActivityAt ?? known?.lastActivityAt;
        containers[c.id] = {
          ...c,
          ...(runId !== undefined ? { runId } : {}),
          ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
          ...(timeLimitMs !== undefined ? { timeLimitMs } : {}),
          ...(lastActivityAt !== undefined ? { lastActivityAt } : {}),
        };
      }
      return { ...state, containers, stale: { ...state.stale, containers: false } };
    }
    case 'imagesListed':
      return { ...state, images: action.images, stale: { ...state.stale, images: false } };
    case 'historyLoaded':
      return { ...state, history: { ...state.history, [action.imageId]: action.rows } };
    case 'touched':
      return { ...state, touchedAt: { ...state.touchedAt, [action.containerId]: Math.max(action.atMs, state.touchedAt[action.containerId] ?? 0) } };
    case 'containerRun': {
      const known = state.containers[action.containerId];
      const row: SessionContainer = known ?? { id: action.containerId, name: action.containerId.slice(0, 12), image: '', status: 'created' };
      return { ...state, containers: { ...state.containers, [action.containerId]: { ...row, runId: action.runId } } };
    }
    case 'select':
      return { ...state, selection: action.selection };
    case 'inspected': {
      const d = action.detail;
      const known = state.containers[d.id];
      const row: SessionContainer = {
        ...known,
        id: d.id,
        name: d.name,
        image: d.image,
        imageId: d.imageId,
        status: known?.status === 'removed' ? 'removed' : d.status,
        exitCode: d.exitCode,
        oomKilled: d.oomKilled,
        timedOut: d.timedOut,
        startedAt: d.startedAt,
        lastActivityAt: d.lastActivityAt,
        idleTimeoutMs: d.limits.idleTimeoutMs,
        timeLimitMs: d.limits.timeLimitMs,
      };
      return { ...state, containers: { ...state.containers, [d.id]: row }, details: { ...state.details, [d.id]: d } };
    }
    case 'diffRead':
      return withLive(state, action.containerId, 'diff', action.diff);
    case 'statsRead':
      return withLive(state, action.containerId, 'stats', action.stats);
    case 'event':
      return sessionEvent(state, action.event.type === 'build.log' ? action.event : printableDeep(action.event));
  }
}

/** Keeps the newer of two readings: a slow poll's reply must not replace a fresher event. */
function withLive<K extends 'diff' | 'stats'>(state: SessionState, id: string, key: K, value: NonNullable<SessionState['live'][string][K]>): SessionState {
  const current = state.live[id]?.[key];
  if (current !== undefined && Date.parse(current.at) > Date.parse(value.at)) return state;
  // A diff event says nothing of the size: the last reading's size stays until a newer one.
  const size = key === 'diff' ? ((value as ContainerDiff).sizeBytes ?? (current as ContainerDiff | undefined)?.sizeBytes) : undefined;
  const kept = size === undefined ? value : { ...value, sizeBytes: size };
  return { ...state, live: { ...state.live, [id]: { ...state.live[id], [key]: kept } } };
}

function sessionEvent(state: SessionState, event: EngineEvent): SessionState {
  const update = (id: string, change: (c: SessionContainer) => SessionContainer): SessionState => {
    const known = state.containers[id] ?? { id, name: id.slice(0, 12), image: '', status: 'created' as const, runId: event.runId };
    return { ...state, containers: { ...state.containers, [id]: change(known) } };
  };
  switch (event.type) {
    case 'build.finished':
      return { ...state, stale: { ...state.stale, images: true } };
    case 'layer.committed':
      // A commit made a new image from a container's writable layer, freezing the container while
      // it copied: a list read meanwhile said "paused", so read the containers again too.
      return event.containerId === undefined ? state : { ...state, stale: { images: true, containers: true } };
    case 'container.created':
      return update(event.containerId, (c) => ({ ...c, name: event.name, image: event.image }));
    case 'container.started': {
      // The image now has one container more (the images list counts them).
      const started = update(event.containerId, (c) => ({
        ...c,
        image: event.image,
        status: 'running',
        startedAt: event.at,
        lastActivityAt: event.at,
        idleTimeoutMs: event.limits.idleTimeoutMs,
        timeLimitMs: event.limits.timeLimitMs,
        exitCode: undefined,
        oomKilled: false,
        timedOut: false,
      }));
      return { ...started, stale: { ...started.stale, images: true } };
    }
    case 'container.diff':
      return withLive(state, event.containerId, 'diff', { changes: event.changes, truncated: event.truncated, at: event.at });
    case 'container.stats':
      return withLive(state, event.containerId, 'stats', statsOf(event));
    case 'container.exited':
      return update(event.containerId, (c) => ({ ...c, status: 'exited', exitCode: event.exitCode, oomKilled: event.oomKilled, timedOut: event.timedOut }));
    case 'container.paused':
      return update(event.containerId, (c) => ({ ...c, status: 'paused' }));
    case 'container.unpaused':
      return update(event.containerId, (c) => ({ ...c, status: 'running' }));
    case 'container.removed': {
      const { [event.containerId]: _gone, ...containers } = state.containers;
      const { [event.containerId]: _live, ...live } = state.live;
      const { [event.containerId]: _detail, ...details } = state.details;
      return { ...state, containers, live, details, stale: { ...state.stale, images: true } };
    }
    default:
      return state;
  }
}

/** When the first of the session's running containers will be stopped for being idle. */
export function idleDeadline(state: SessionState): { containerId: string; atMs: number } | null {
  let first: { containerId: string; atMs: number } | null = null;
  for (const c of Object.values(state.containers)) {
    if (c.status !== 'running' || c.idleTimeoutMs === undefined) continue;
    const last = Math.max(
      c.lastActivityAt ? Date.parse(c.lastActivityAt) : 0,
      c.startedAt ? Date.parse(c.startedAt) : 0,
      state.touchedAt[c.id] ?? 0,
    );
    if (last === 0) continue;
    const atMs = last + c.idleTimeoutMs;
    if (first === null || atMs < first.atMs) first = { containerId: c.id, atMs };
  }
  return first;
}

/**
 * When the first of the session's running containers reaches the host's time limit for its
 * start. Activity does not move it: a learner is warned to commit, not offered "keep working".
 */
export function limitDeadline(state: SessionState): { containerId: string; atMs: number } | null {
  let first: { containerId: string; atMs: number } | null = null;
  for (const c of Object.values(state.containers)) {
    if (c.status !== 'running' || !c.timeLimitMs || !c.startedAt) continue;
    const atMs = Date.parse(c.startedAt) + c.timeLimitMs;
    if (first === null || atMs < first.atMs) first = { containerId: c.id, atMs };
  }
  return first;
}

/** Warn this long before the reaper acts: two minutes, or a quarter of a short timeout. */
export function idleWarningMs(idleTimeoutMs: number): number {
  return Math.min(2 * 60_000, Math.floor(idleTimeoutMs / 4));
}

/** Images a running or stopped container still uses: Docker refuses to remove these. */
export function imagesInUse(state: SessionState): Set<string> {
  return new Set(Object.values(state.containers).flatMap((c) => (c.imageId ? [c.imageId] : [])));
}
