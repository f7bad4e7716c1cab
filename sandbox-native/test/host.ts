// Looking at a container from the host side: its cgroup files, its processes' host ids,
// and a few facts about this kernel that decide whether a check can mean anything here.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PROBE_BIN } from './paths.js';

/** A cgroup v1 file of container `id` (cgroupsPath /layercake/<id>), or null if absent. */
export function cgroupFile(controller: string, id: string, file: string): string | null {
  const path = join('/sys/fs/cgroup', controller, 'layercake', id, file);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Real uid and gid of a host process. */
export function hostIdsOf(pid: number): { uid: number; gid: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]),
    gid: Number(/^Gid:\s+(\d+)/m.exec(status)?.[1]),
  };
}

/** Does the host have `path` with something in it (a non-empty file or directory)? */
export function hostHasContent(path: string): boolean {
  try {
    const st = statSync(path);
    if (st.isDirectory()) return readdirSync(path).length > 0;
    return readFileSync(path).length > 0;
  } catch {
    return false;
  }
}

export const hostHas = (path: string): boolean => existsSync(path);

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Run the probe on the host, for its host-safe cases (it refuses the others there). */
export function hostProbe(args: string[]): { ok: boolean; errno?: number; [k: string]: unknown } {
  return JSON.parse(execFileSync(PROBE_BIN, args, { encoding: 'utf8' })) as { ok: boolean };
}

/** A harmless host process (sleep) to aim at; the caller kills it. */
export function hostSleeper(): ChildProcess {
  return spawn('sleep', ['600'], { stdio: 'ignore' });
}

/** The mask of capability numbers for names like CAP_CHOWN, as /proc/<pid>/status prints it. */
export function capabilityMask(names: readonly string[]): string {
  const numbers: Record<string, number> = {
    CAP_CHOWN: 0,
    CAP_DAC_OVERRIDE: 1,
    CAP_DAC_READ_SEARCH: 2,
    CAP_FOWNER: 3,
    CAP_FSETID: 4,
    CAP_KILL: 5,
    CAP_SETGID: 6,
    CAP_SETUID: 7,
    CAP_SETPCAP: 8,
    CAP_LINUX_IMMUTABLE: 9,
    CAP_NET_BIND_SERVICE: 10,
    CAP_NET_BROADCAST: 11,
    CAP_NET_ADMIN: 12,
    CAP_NET_RAW: 13,
    CAP_IPC_LOCK: 14,
    CAP_IPC_OWNER: 15,
    CAP_SYS_MODULE: 16,
    CAP_SYS_RAWIO: 17,
    CAP_SYS_CHROOT: 18,
    CAP_SYS_PTRACE: 19,
    CAP_SYS_PACCT: 20,
    CAP_SYS_ADMIN: 21,
    CAP_SYS_BOOT: 22,
    CAP_SYS_NICE: 23,
    CAP_SYS_RESOURCE: 24,
    CAP_SYS_TIME: 25,
    CAP_SYS_TTY_CONFIG: 26,
    CAP_MKNOD: 27,
    CAP_LEASE: 28,
    CAP_AUDIT_WRITE: 29,
    CAP_AUDIT_CONTROL: 30,
    CAP_SETFCAP: 31,
  };
  let mask = 0n;
  for (const name of names) {
    const bit = numbers[name];
    if (bit === undefined) throw new Error(`unknown capability ${name}`);
    mask |= 1n << BigInt(bit);
  }
  return mask.toString(16).padStart(16, '0');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `predicate` until true or `timeoutMs` passes; returns its last value. */
export async function eventually(predicate: () => boolean, timeoutMs: number, stepMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (predicate()) return true;
    if (Date.now() > deadline) return false;
    await sleep(stepMs);
  }
}
