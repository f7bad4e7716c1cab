// What a container runs, composed from its image's config and the learner's overrides with
// Docker's rules (docker run reference, "Default command and options"):
//  - ENTRYPOINT + CMD; a command after the image replaces CMD; `--entrypoint` replaces ENTRYPOINT
//    and drops the image's CMD;
//  - Env (what inspect shows): the `-e` entries, then the image's that no `-e` names; the
//    process gets PATH and HOSTNAME (and TERM with a terminal) first, replaced in place by Env's
//    (processEnv), as the daemon's CreateDaemonEnvironment does;
//  - WorkingDir: `-w`, else the image's, else /;
//  - User: `-u`, else the image's, else root;
//  - StopSignal: the image's, else SIGTERM.
import { posix } from 'node:path';
import { LearnerError } from '../../../protocol/errors.js';
import type { RunConfig } from '../image-store/index.js';
import { normaliseSignal } from './signals.js';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunOverrides {
  cmd?: string[] | undefined;
  /** `--entrypoint`: an empty array clears the image's. */
  entrypoint?: string[] | undefined;
  env?: string[] | undefined;
  workingDir?: string | undefined;
  user?: string | undefined;
}

export interface ComposedRun {
  entrypoint: string[] | null;
  cmd: string[] | null;
  args: string[];
  env: string[];
  workingDir: string;
  user: string;
  stopSignal: string;
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq === -1 ? entry : entry.slice(0, eq);
}

/** `base` with `overrides` applied by key, in first-seen order (as Docker merges -e into Env). */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const merged = new Map<string, string>();
  for (const entry of [...base, ...overrides]) merged.set(envKey(entry), entry);
  return [...merged.values()];
}

/**
 * The environment a container's process starts with: PATH and HOSTNAME, TERM with a terminal,
 * each replaced in place by the container's Env, whose other entries follow (Docker's order).
 * A record from before Env lost its HOSTNAME holds the same HOSTNAME entry: replaced alike.
 */
export function processEnv(env: readonly string[], hostname: string, tty: boolean): string[] {
  return mergeEnv([DEFAULT_PATH, `HOSTNAME=${hostname}`, ...(tty ? ['TERM=xterm'] : [])], env);
}

export function composeRun(image: RunConfig | null | undefined, imageRef: string, o: RunOverrides): ComposedRun {
  const entrypoint = o.entrypoint !== undefined ? (o.entrypoint.length > 0 ? o.entrypoint : null) : (image?.Entrypoint ?? null);
  const cmd = o.cmd && o.cmd.length > 0 ? o.cmd : o.entrypoint !== undefined ? null : (image?.Cmd ?? null);
  const args = [...(entrypoint ?? []), ...(cmd ?? [])];
  if (args.length === 0) throw new LearnerError('container.noCommand', { image: imageRef });

  for (const entry of o.env ?? []) {
    if (!/^[^=]+=/.test(entry)) throw new LearnerError('cli.invalidArgument', { flag: '--env', value: entry, reason: 'expected KEY=VALUE' });
  }
  // Docker's order: `docker inspect` lists -e first (each name once, its last value), then the image's.
  const own = mergeEnv([], o.env ?? []);
  const named = new Set(own.map(envKey));
  const env = [...own, ...(image?.Env ?? []).filter((e) => !named.has(envKey(e)))];

  const workingDir = posix.resolve('/', o.workingDir || image?.WorkingDir || '/');
  return {
    entrypoint,
    cmd,
    args,
    env,
    workingDir,
    user: o.user ?? image?.User ?? '',
    stopSignal: normaliseSignal(image?.StopSignal || 'SIGTERM'),
  };
}
