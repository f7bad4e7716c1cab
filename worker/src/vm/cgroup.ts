// The cgroup a VM's qemu runs in: memory (no swap), pids and CPU limits, and a kill that
// reaches every process in it. cgroup v2 where /sys/fs/cgroup is the unified hierarchy, the v1
// memory, pids and cpu hierarchies on a hybrid host (where the v2 one has no controllers).
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const ROOT = '/sys/fs/cgroup';
const PERIOD_US = 100_000;

export interface VmCgroupLimits {
  memoryBytes: number;
  pidsMax: number;
  cpus: number;
}

function isV2(): boolean {
  return existsSync(join(ROOT, 'cgroup.controllers'));
}

export class VmCgroup {
  private constructor(
    /** One directory per hierarchy (one on v2). */
    readonly dirs: string[],
    private readonly v2: boolean,
  ) {}

  /** `name` is a path under the VMs' parent, e.g. "<vm id>". */
  static async create(name: string, limits: VmCgroupLimits, parent = 'layercake-vm'): Promise<VmCgroup> {
    if (isV2()) {
      const top = join(ROOT, parent);
      await mkdir(top, { recursive: true });
      await writeFile(join(ROOT, 'cgroup.subtree_control'), '+memory +pids +cpu').catch(() => {});
      await writeFile(join(top, 'cgroup.subtree_control'), '+memory +pids +cpu');
      const dir = join(top, name);
      await mkdir(dir);
      const cg = new VmCgroup([dir], true);
      await writeFile(join(dir, 'memory.max'), String(limits.memoryBytes));
      await writeFile(join(dir, 'memory.swap.max'), '0').catch(() => {});
      await writeFile(join(dir, 'pids.max'), String(limits.pidsMax));
      await writeFile(join(dir, 'cpu.max'), `${Math.round(limits.cpus * PERIOD_US)} ${PERIOD_US}`);
      return cg;
    }
    const dirs = ['memory', 'pids', 'cpu'].map((c) => join(ROOT, c, parent, name));
    for (const d of dirs) await mkdir(d, { recursive: true });
    const [memory, pids, cpu] = dirs as [string, string, string];
    const cg = new VmCgroup(dirs, false);
    await writeFile(join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
    // memsw exists only with swap accounting; where it does, swap is not a way around the limit.
    await writeFile(join(memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes)).catch(() => {});
    await writeFile(join(memory, 'memory.swappiness'), '0').catch(() => {});
    await writeFile(join(pids, 'pids.max'), String(limits.pidsMax));
    await writeFile(join(cpu, 'cpu.cfs_period_us'), String(PERIOD_US));
    await writeFile(join(cpu, 'cpu.cfs_quota_us'), String(Math.round(limits.cpus * PERIOD_US)));
    return cg;
  }

  /** The files a process writes its pid into to join (every hierarchy). */
  get procsFiles(): string[] {
    return this.dirs.map((d) => join(d, 'cgroup.procs'));
  }

  async pids(): Promise<number[]> {
    const all = new Set<number>();
    for (const f of this.procsFiles) {
      const text = await readFile(f, 'utf8').catch(() => '');
      for (const line of text.split('\n')) if (line) all.add(Number(line));
    }
    return [...all];
  }

  async memoryBytes(): Promise<number> {
    const file = this.v2 ? join(this.dirs[0]!, 'memory.current') : join(this.dirs[0]!, 'memory.usage_in_bytes');
    return Number((await readFile(file, 'utf8').catch(() => '0')).trim());
  }

  /** Whether the kernel's OOM killer ended something in it. */
  async oomKilled(): Promise<boolean> {
    const file = this.v2 ? join(this.dirs[0]!, 'memory.events') : join(this.dirs[0]!, 'memory.oom_control');
    const m = /oom_kill (\d+)/.exec(await readFile(file, 'utf8').catch(() => ''));
    return m !== null && Number(m[1]) > 0;
  }

  /** SIGKILL to everything in it (cgroup.kill on v2), until it is empty; then removes it. */
  async destroy(): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const pids = await this.pids();
      if (pids.length === 0) break;
      if (this.v2) await writeFile(join(this.dirs[0]!, 'cgroup.kill'), '1').catch(() => {});
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const d of this.dirs) {
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          await rmdir(d);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
  }
}
