'use client';
// The playground's one place for server state: every run this page follows (a build, each
// container) folded by the run-store reducers, and the session's containers and images. Widgets
// read it with the hooks below and ask for work through its actions; only this file talks to
// the socket for them. Which runs the page shows is kept in sessionStorage, so a reload follows
// the same runs again from seq -1 and redraws the same state.
import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState, type ReactNode } from 'react';
import type { ErrorPayload } from '../../../../protocol/errors';
import type { BuildRequest, ContainerRequest, ImageRequest, RunRequest } from '../../../../protocol/socket/runs';
import type { SocketReply } from '../../../../protocol/socket/common';
import { followRun, onConnection, request } from '../../lib/socket';
import {
  emptyRun,
  emptySession,
  runReducer,
  sessionReducer,
  stepForLine,
  type LayerSelection,
  type RunAction,
  type RunState,
  type SessionAction,
  type SessionState,
} from '../../lib/run-store';
import { readContainers, readDiff, readImages, readInspect, readStats } from './engine-results';

type OpReply = SocketReply<{ runId: string; result: unknown }>;

export interface PlaySessionValue {
  session: SessionState;
  runs: Record<string, RunState>;
  /** The build the panel shows (the latest one started here). */
  buildRunId: string | null;
  /** The container panes, oldest first. */
  containerRuns: string[];
  connected: boolean;
  build(request: BuildRequest): Promise<ErrorPayload | null>;
  run(request: RunRequest): Promise<ErrorPayload | null>;
  containerOp(request: ContainerRequest): Promise<OpReply>;
  imageOp(request: ImageRequest): Promise<OpReply>;
  refreshImages(): Promise<void>;
  refreshContainers(): Promise<void>;
  closePane(runId: string): void;
  /** Selects a layer of the current build (or none); the layer stack shows its files. */
  selectLayer(selection: LayerSelection | null): void;
  /** The editor's gutter: select the layer made by this Dockerfile line. Returns whether one was. */
  selectLine(line: number): boolean;
  /** Activity this page caused for a container (typing in its terminal). */
  touched(containerId: string): void;
  /** "Keep working": tell the engine the learner is still here, then read its new deadline. */
  keepWorking(containerId: string): Promise<void>;
  dispatchSession(action: SessionAction): void;
}

const PlaySessionContext = createContext<PlaySessionValue | null>(null);

type RunsAction = { runId: string; action: RunAction } | { forget: string };

function runsReducer(runs: Record<string, RunState>, a: RunsAction): Record<string, RunState> {
  if ('forget' in a) {
    const { [a.forget]: _gone, ...rest } = runs;
    return rest;
  }
  const current = runs[a.runId] ?? emptyRun(a.runId);
  const next = runReducer(current, a.action);
  return next === current && a.runId in runs ? runs : { ...runs, [a.runId]: next };
}

const STORAGE_KEY = 'layercake.play.runs';
const CONTAINERS_REFRESH_MS = 30_000;
const MAX_PANES = 4;


interface Shown {
  buildRunId: string | null;
  containerRuns: string[];
}

function loadShown(): Shown {
  try {
    const raw = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as Partial<Shown> | null;
    return {
      buildRunId: typeof raw?.buildRunId === 'string' ? raw.buildRunId : null,
      containerRuns: Array.isArray(raw?.containerRuns) ? raw.containerRuns.filter((r): r is string => typeof r === 'string') : [],
    };
  } catch {
    return { buildRunId: null, containerRuns: [] };
  }
}

function saveShown(shown: Shown): void {
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(shown));
  } catch {
    // Storage refused (private mode): a reload then starts with an empty page, nothing worse.
  }
}

export function PlaySessionProvider({ children }: { children: ReactNode }) {
  const [session, dispatchSession] = useReducer(sessionReducer, undefined, emptySession);
  const [runs, dispatchRuns] = useReducer(runsReducer, {});
  const [shown, setShownState] = useState<Shown>({ buildRunId: null, containerRuns: [] });
  // Written through on every change (not from an effect, which would first store the empty
  // state a remount starts with and lose what a reload should restore).
  const setShown = useCallback((change: (s: Shown) => Shown) => {
    setShownState((current) => {
      const next = change(current);
      saveShown(next);
      return next;
    });
  }, []);
  const [connected, setConnected] = useState(false);
  const following = useRef(new Map<string, () => void>());

  const follow = useCallback((runId: string, kind: 'build' | 'run') => {
    if (following.current.has(runId)) return;
    const stop = followRun(runId, {
      onEvent: (event) => {
        dispatchRuns({ runId, action: { type: 'event', event } });
        dispatchSession({ type: 'event', event });
        if (kind === 'run' && event.type === 'container.created') dispatchSession({ type: 'containerRun', containerId: event.containerId, runId });
      },
      onQueued: (q) => dispatchRuns({ runId, action: { type: 'queued', position: q.position, etaMs: q.etaMs } }),
      onDone: (done) => {
        dispatchRuns({ runId, action: { type: 'settle' } });
        if (done.ok) {
          dispatchRuns({ runId, action: { type: 'done', ok: true } });
          const steps = (done.result as { steps?: unknown } | null)?.steps;
          if (Array.isArray(steps)) dispatchRuns({ runId, action: { type: 'buildResult', steps } });
        } else {
          dispatchRuns({ runId, action: { type: 'done', ok: false, error: done.error } });
        }
      },
      onError: (error) => {
        // A run this session can no longer see (expired, or from before a restart): stop showing it.
        if (error.kind === 'learner' && error.key === 'runs.notFound') {
          following.current.get(runId)?.();
          following.current.delete(runId);
          dispatchRuns({ forget: runId });
          setShown((s) => ({ buildRunId: s.buildRunId === runId ? null : s.buildRunId, containerRuns: s.containerRuns.filter((r) => r !== runId) }));
        } else {
          dispatchRuns({ runId, action: { type: 'done', ok: false, error } });
        }
      },
    });
    following.current.set(runId, stop);
  }, []);

  // Follow what the page showed before a reload.
  useEffect(() => {
    const restored = loadShown();
    setShownState(restored);
    if (restored.buildRunId) follow(restored.buildRunId, 'build');
    for (const runId of restored.containerRuns) follow(runId, 'run');
    const subscriptions = following.current;
    return () => {
      for (const stop of subscriptions.values()) stop();
      subscriptions.clear();
    };
  }, [follow]);


  useEffect(() => onConnection(setConnected), []);

  const containerOp = useCallback((req: ContainerRequest) => request('runs:container', req), []);
  const imageOp = useCallback((req: ImageRequest) => request('runs:image', req), []);

  const refreshImages = useCallback(async () => {
    const reply = await request('runs:image', { op: 'list' });
    const images = reply.ok ? readImages(reply.result) : null;
    if (images) dispatchSession({ type: 'imagesListed', images });
  }, []);

  const refreshContainers = useCallback(async () => {
    const reply = await request('runs:container', { op: 'list', all: true });
    const containers = reply.ok ? readContainers(reply.result) : null;
    if (!containers) return;
    dispatchSession({ type: 'containersListed', containers });
    // The list has no last activity; inspect gives it (the idle timer) and the layers under each.
    await Promise.all(
      containers
        .filter((c) => c.status === 'running' || c.status === 'paused')
        .map(async (c) => {
          const detail = await request('runs:container', { op: 'inspect', container: c.id });
          const container = detail.ok ? readInspect(detail.result) : null;
          if (container) dispatchSession({ type: 'inspected', detail: container });
        }),
    );
  }, []);

  // Lists are read when an event made them stale, on (re)connection, and now and then for the
  // engine's idea of each container's last activity (the idle timer).
  useEffect(() => {
    if (!connected || !session.stale.images) return;
    const timer = setTimeout(() => void refreshImages(), 250);
    return () => clearTimeout(timer);
  }, [connected, session.stale.images, refreshImages]);
  useEffect(() => {
    if (!connected) return;
    void refreshContainers();
    const timer = setInterval(() => void refreshContainers(), CONTAINERS_REFRESH_MS);
    return () => clearInterval(timer);
  }, [connected, refreshContainers]);
  useEffect(() => {
    if (!connected || !session.stale.containers) return;
    const timer = setTimeout(() => void refreshContainers(), 250);
    return () => clearTimeout(timer);
  }, [connected, session.stale.containers, refreshContainers]);

  const build = useCallback(
    async (req: BuildRequest) => {
      const reply = await request('runs:build', req);
      if (!reply.ok) return reply.error;
      const previous = shown.buildRunId;
      if (previous) {
        following.current.get(previous)?.();
        following.current.delete(previous);
      }
      dispatchRuns({ runId: reply.runId, action: { type: 'queued', position: 0, etaMs: 0 } });
      follow(reply.runId, 'build');
      setShown((s) => ({ ...s, buildRunId: reply.runId }));
      dispatchSession({ type: 'select', selection: null });
      return null;
    },
    [follow, shown.buildRunId],
  );

  const run = useCallback(
    async (req: RunRequest) => {
      const reply = await request('runs:run', req);
      if (!reply.ok) return reply.error;
      follow(reply.runId, 'run');
      setShown((s) => {
        const containerRuns = [...s.containerRuns, reply.runId];
        // Panes beyond the limit close from the oldest; their containers stay in the session.
        for (const dropped of containerRuns.slice(0, Math.max(0, containerRuns.length - MAX_PANES))) {
          following.current.get(dropped)?.();
          following.current.delete(dropped);
        }
        return { ...s, containerRuns: containerRuns.slice(-MAX_PANES) };
      });
      return null;
    },
    [follow],
  );

  const closePane = useCallback((runId: string) => {
    following.current.get(runId)?.();
    following.current.delete(runId);
    setShown((s) => ({ ...s, containerRuns: s.containerRuns.filter((r) => r !== runId) }));
  }, []);

  const selectLayer = useCallback((selection: LayerSelection | null) => dispatchSession({ type: 'select', selection }), []);

  const buildRun = shown.buildRunId ? runs[shown.buildRunId] : undefined;
  const selectLine = useCallback(
    (line: number) => {
      const step = stepForLine(buildRun?.build ?? null, line);
      if (!buildRun || !step) return false;
      dispatchSession({ type: 'select', selection: { runId: buildRun.runId, step: step.step } });
      return true;
    },
    [buildRun],
  );

  const touched = useCallback((containerId: string) => dispatchSession({ type: 'touched', containerId, atMs: Date.now() }), []);

  const keepWorking = useCallback(async (containerId: string) => {
    const reply = await request('runs:container', { op: 'touch', container: containerId });
    if (!reply.ok) return;
    // The engine took it as activity now, as it takes typing; then read its own record back.
    dispatchSession({ type: 'touched', containerId, atMs: Date.now() });
    const detail = await request('runs:container', { op: 'inspect', container: containerId });
    const container = detail.ok ? readInspect(detail.result) : null;
    if (container) dispatchSession({ type: 'inspected', detail: container });
  }, []);

  const value = useMemo<PlaySessionValue>(
    () => ({
      session,
      runs,
      buildRunId: shown.buildRunId,
      containerRuns: shown.containerRuns,
      connected,
      build,
      run,
      containerOp,
      imageOp,
      refreshImages,
      refreshContainers,
      closePane,
      selectLayer,
      selectLine,
      touched,
      keepWorking,
      dispatchSession,
    }),
    [session, runs, shown, connected, build, run, containerOp, imageOp, refreshImages, refreshContainers, closePane, selectLayer, selectLine, touched, keepWorking],
  );
  return <PlaySessionContext.Provider value={value}>{children}</PlaySessionContext.Provider>;
}

export function usePlaySession(): PlaySessionValue {
  const value = useContext(PlaySessionContext);
  if (!value) throw new Error('usePlaySession outside <PlaySessionProvider>');
  return value;
}

/** The build the panel shows, if any. */
export function useBuildRun(): RunState | null {
  const { runs, buildRunId } = usePlaySession();
  return buildRunId ? (runs[buildRunId] ?? emptyRun(buildRunId)) : null;
}

/**
 * Polls a running container's diff and stats while its pane is on screen and the tab visible
 * (one request at a time, each after the last reply), so Changes follows the learner's typing.
 * The gateway allows a session about two operations a second; two panes polling stay under it.
 */
export function useContainerPolling(containerId: string | undefined, active: boolean, { diffMs = 2000, statsMs = 4000 } = {}) {
  const { containerOp, dispatchSession } = usePlaySession();
  useEffect(() => {
    if (!containerId || !active) return;
    let stopped = false;
    const loop = async (op: 'diff' | 'stats', everyMs: number) => {
      while (!stopped) {
        if (document.visibilityState === 'visible') {
          const reply = await containerOp({ op, container: containerId });
          if (stopped) return;
          const at = new Date().toISOString();
          if (reply.ok && op === 'diff') {
            const diff = readDiff(reply.result, at);
            if (diff) dispatchSession({ type: 'diffRead', containerId, diff });
          } else if (reply.ok) {
            const stats = readStats(reply.result, at);
            if (stats) dispatchSession({ type: 'statsRead', containerId, stats });
          }
        }
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
    };
    void loop('diff', diffMs);
    void loop('stats', statsMs);
    return () => {
      stopped = true;
    };
  }, [containerId, active, containerOp, dispatchSession, diffMs, statsMs]);
}
