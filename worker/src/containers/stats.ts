// `docker stats` from the container's cgroup files, whose directories the launcher names in its
// state. Memory is counted as Docker's CLI does (usage minus inactive page cache, which the kernel
// reclaims before it would OOM-kill anyone); CPU percent comes from two samples of cumulative CPU
// time, as a share of one CPU (so 0.5 CPU of quota tops out near 50 %).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CgroupInfo {
  version: number;
  paths: Record<string, string>;
}

export interface CgroupSample {
  memoryBytes: number;
  /** 0 when unlimited. */
  memoryLimitBytes: number;
  pids: number;
  /** 0 when unlimited. */
  pidsLimit: number;
  cpuUsageNanos: number;
  /** process.hrtime of the sample, in nanoseconds. */
  takenAtNanos: bigint;
}

async function readText(dir: string | undefined, file: string): Promise<string | null> {
  if (!dir) return null;
  try {
    return (await readFile(join(dir, file), 'utf8')).trim();
  } catch {
    // The container exited between our look at its state and this read: nothing to count.
    return null;
  }
}

async function readNumber(dir: string | undefined, file: string): Promise<number> {
  const text = await readText(dir, file);
  if (text === null || text === 'max') return 0;
  const n = Number(text);
  return Number.isFinite(n) ? n : 0;
}

async function statField(dir: string | undefined, file: string, field: string): Promise<number> {
  const text = await readText(dir, file);
  const line = text?.split('\n').find((l) => l.startsWith(`${field} `));
  return line ? Number(line.slice(field.length + 1)) || 0 : 0;
}

// cgroup v1 reports "no limit" as a huge page-aligned number.
const V1_UNLIMITED = 2 ** 62;

export async function sampleCgroup(cgroup: CgroupInfo): Promise<CgroupSample> {
  const p = cgroup.paths;
  if (cgroup.version === 2) {
    const dir = p.unified ?? p.memory;
    const usage = await readNumber(dir, 'memory.current');
    const inactive = await statField(dir, 'memory.stat', 'inactive_file');
    return {
      memoryBytes: Math.max(0, usage - inactive),
      memoryLimitBytes: await readNumber(dir, 'memory.max'),
      pids: await readNumber(p.pids ?? dir, 'pids.current'),
      pidsLimit: await readNumber(p.pids ?? dir, 'pids.max'),
      cpuUsageNanos: (await statField(p.cpu ?? dir, 'cpu.stat', 'usage_usec')) * 1000,
      takenAtNanos: process.hrtime.bigint(),
    };
  }
  const usage = await readNumber(p.memory, 'memory.usage_in_bytes');
  const inactive = await statField(p.memory, 'memory.stat', 'total_inactive_file');
  const limit = await readNumber(p.memory, 'memory.limit_in_bytes');
  return {
    memoryBytes: Math.max(0, usage - inactive),
    memoryLimitBytes: limit >= V1_UNLIMITED ? 0 : limit,
    pids: await readNumber(p.pids, 'pids.current'),
    pidsLimit: await readNumber(p.pids, 'pids.max'),
    cpuUsageNanos: await readNumber(p.cpuacct ?? p.cpu, 'cpuacct.usage'),
    takenAtNanos: process.hrtime.bigint(),
  };
}

/** CPU time used between two samples, as a percentage of one CPU's wall-clock time. */
export function cpuPercent(before: CgroupSample, after: CgroupSample): number {
  const wall = Number(after.takenAtNanos - before.takenAtNanos);
  const used = after.cpuUsageNanos - before.cpuUsageNanos;
  if (wall <= 0 || used <= 0) return 0;
  return (used / wall) * 100;
}

/** Two samples `intervalMs` apart: usage from the second, CPU percent from both. */
export async function measure(cgroup: CgroupInfo, intervalMs: number, signal?: AbortSignal): Promise<CgroupSample & { cpuPercent: number }> {
  const first = await sampleCgroup(cgroup);
  await sleep(intervalMs, undefined, signal ? { signal } : undefined);
  const second = await sampleCgroup(cgroup);
  return { ...second, cpuPercent: cpuPercent(first, second) };
}
