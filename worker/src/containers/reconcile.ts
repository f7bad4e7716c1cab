// Bringing a container's record in line with its launcher. A record says "running" from its
// start until some process notices the launcher has stopped: then the exit (code, OOM, time
// limit, signal) is copied from the launcher's state into the record, the launcher's state is
// deleted and the host id range given back. Any process may be the one that notices — the worker,
// the command line, a worker restarted after a crash — so this runs on every access.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { ContainerRuntime, RuntimeState } from '../runtime/container-runtime.js';
import type { IdRangeAllocator } from '../runtime/id-ranges.js';
import { launcherId } from './launch.js';
import type { ContainerRecord } from './record.js';

export interface ReconcileContext {
  runtime: ContainerRuntime;
  idRanges: IdRangeAllocator;
  log: Logger;
}

/** What the launcher says about a container right now. */
export type LiveStatus = 'created' | 'running' | 'paused' | 'exited';

export interface ExitState {
  exitCode: number;
  oomKilled: boolean;
  timedOut: boolean;
  signal?: string;
  finishedAt: string | null;
}

/** A monitor killed outright takes its container with it (PDEATHSIG=SIGKILL): a KILL exit. */
const KILLED_WITH_MONITOR: Omit<ExitState, 'finishedAt'> = { exitCode: 137, signal: 'KILL', oomKilled: false, timedOut: false };

/**
 * The launcher's state once it has settled: a live monitor writes the exit code (and the OOM
 * flag, which it reads from the cgroup) a moment after the container's init is gone.
 */
async function settledState(ctx: ReconcileContext, id: string): Promise<RuntimeState | null> {
  let state = await ctx.runtime.state(id);
  // `state` names the monitor while it lives (checked against its start time by the launcher).
  for (let i = 0; i < 100 && state?.status === 'stopped' && state.exitCode === undefined; i++) {
    if (!state.monitorPid) break;
    await sleep(50);
    state = await ctx.runtime.state(id);
  }
  return state;
}

export function isLive(state: RuntimeState | null): boolean {
  return state !== null && state.status !== 'stopped';
}

export function liveStatus(record: ContainerRecord, state: RuntimeState | null): LiveStatus {
  if (record.state.status !== 'running') return record.state.status;
  if (state?.status === 'paused') return 'paused';
  return isLive(state) ? 'running' : 'exited';
}

/**
 * With the container's lock held: if its launcher has stopped, the record becomes "exited".
 * Returns the record as it is now and whether this call made the change.
 */
export async function settleExit(
  ctx: ReconcileContext,
  record: ContainerRecord,
): Promise<{ record: ContainerRecord; exited: boolean; state: RuntimeState | null }> {
  if (record.state.status !== 'running') return { record, exited: false, state: null };
  const id = launcherId(record);
  const state = await settledState(ctx, id);
  if (isLive(state)) return { record, exited: false, state };
  const finished = (state as { finished?: string } | null)?.finished;
  const exit =
    state && state.exitCode !== undefined
      ? {
          exitCode: state.exitCode,
          oomKilled: state.oomKilled ?? false,
          timedOut: state.timedOut ?? false,
          ...(state.signal ? { signal: state.signal } : {}),
        }
      : KILLED_WITH_MONITOR;
  const next: ContainerRecord = {
    ...record,
    state: {
      ...record.state,
      status: 'exited',
      finishedAt: finished || new Date().toISOString(),
      exitCode: exit.exitCode,
      oomKilled: exit.oomKilled,
      timedOut: exit.timedOut,
      ...(exit.signal ? { signal: exit.signal } : { signal: undefined }),
      ...(state && state.exitCode !== undefined ? {} : { error: 'the container’s launcher ended unexpectedly' }),
    },
  };
  await ctx.runtime.delete(id, true);
  ctx.idRanges.releaseContainer(id);
  ctx.log.debug({ container: id, exit }, 'container exited');
  return { record: next, exited: true, state: null };
}

export function exitStateOf(record: ContainerRecord): ExitState {
  return {
    exitCode: record.state.exitCode,
    oomKilled: record.state.oomKilled,
    timedOut: record.state.timedOut,
    ...(record.state.signal ? { signal: record.state.signal } : {}),
    finishedAt: record.state.finishedAt,
  };
}
