// Booting an image as a VM: the guest kernel, the shared initramfs plus the run's settings,
// the image's disk, an accelerator chosen by a boot probe, and qemu in its cgroup as its own
// user. A VM ends when its command exits (the guest powers off with its status), at its wall-
// clock limit, or when it is killed; each way leaves nothing behind: no process, no cgroup, no
// run directory, no id range.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { IdRangeAllocator } from '../runtime/id-ranges.js';
import { VmCgroup } from './cgroup.js';
import { imageDisk } from './disk.js';
import { baseInitramfs, runArchive, type RunSettings } from './initramfs.js';
import { guestKernel } from './kernel.js';
import { QemuProcess, type Accel, type ControlLine } from './qemu.js';

export interface VmHost {
  dataDir: string;
  idRanges: IdRangeAllocator;
  log: Logger;
  /** Cgroup parent of the VMs (tests use their own). */
  cgroupParent?: string;
}

export interface VmLimits {
  /** The guest's RAM; qemu's cgroup allows this plus its own overhead. */
  memoryBytes: number;
  cpus: number;
  /** From the start to the guest's power-off; past it the VM is killed. */
  timeoutMs: number;
  /** From the start to the command's start (the guest's boot); the accelerator's default otherwise. */
  bootTimeoutMs?: number;
  /** A writable scratch disk of this size, the guest's /dev/lc-scratch (compare's dd target); none by default. */
  scratchDiskBytes?: number;
}

export const defaultVmLimits: VmLimits = Object.freeze({ memoryBytes: 256 * 1024 * 1024, cpus: 1, timeoutMs: 10 * 60_000 });

/** What qemu itself needs beside the guest's RAM (TCG's translation cache is bounded at 64 MiB). */
const QEMU_OVERHEAD_BYTES = 192 * 1024 * 1024;
/** A guest that has not reached its command by then never will: its boot is what hangs. */
const BOOT_LIMIT_MS = { kvm: 20_000, tcg: 90_000 } as const;
/** How long a KVM guest may take to reach init in the probe before this host is called TCG-only. */
const PROBE_LIMIT_MS = 5_000;

export interface VmImage {
  imageId: string;
  /** Layer directories, topmost first. */
  layers: string[];
}

export type VmEndReason = 'exited' | 'timeout' | 'boot-timeout' | 'killed' | 'crashed';

export interface VmEnd {
  reason: VmEndReason;
  /** The command's status as the guest reported it; 137 when killed, 124 at the time limit (timeout(1)'s). */
  exitCode: number;
  /** What went wrong, for the learner (timeouts, a guest that could not mount its image). */
  detail?: string;
  /** The limit that ended it (timeout, boot-timeout), for the learner's message. */
  limitMs?: number;
  oomKilled: boolean;
}

export interface BootTimes {
  /** qemu's start, firmware and the kernel's loading until the kernel's clock started. */
  firmwareMs: number;
  /** The kernel's boot until /init ran. */
  kernelMs: number;
  /** /init: modules, the image's disk and overlay, until the command started. */
  initMs: number;
  totalMs: number;
}

export interface VmListener {
  booting?(info: { id: string; accel: Accel; vcpus: number; memoryBytes: number; kernelPackage: string }): void;
  kernel?(release: string): void;
  ready?(times: BootTimes): void;
}

export interface Vm {
  id: string;
  accel: Accel;
  /** The serial console, as a container's terminal attachment. */
  terminal: QemuProcess;
  cgroup: VmCgroup;
  /** Resolves when the VM has ended and everything it held is gone. */
  ended: Promise<VmEnd>;
  kill(): void;
}

function vmDirs(dataDir: string) {
  return { cache: join(dataDir, 'vm'), disks: join(dataDir, 'vm', 'disks') };
}

// ---- the accelerator ------------------------------------------------------------------------

let accelOfHost: Promise<Accel> | null = null;

/**
 * KVM when it boots a guest to init here, else TCG. /dev/kvm can exist and still hang (a nested
 * guest stuck at "Booting from ROM"), so the answer is a real boot with a time limit, remembered
 * per host kernel and qemu in the engine's data dir.
 */
export function hostAccel(host: VmHost): Promise<Accel> {
  accelOfHost ??= decideAccel(host).catch((err: unknown) => {
    accelOfHost = null;
    throw err;
  });
  return accelOfHost;
}

async function decideAccel(host: VmHost): Promise<Accel> {
  if (process.env.LAYERCAKE_VM_ACCEL === 'tcg' || process.env.LAYERCAKE_VM_ACCEL === 'kvm') return process.env.LAYERCAKE_VM_ACCEL;
  if (!existsSync('/dev/kvm')) return 'tcg';
  const hostKernel = (await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim();
  const file = join(vmDirs(host.dataDir).cache, 'accel.json');
  const saved = await readFile(file, 'utf8').then((t) => JSON.parse(t) as { hostKernel: string; accel: Accel }, () => null);
  if (saved?.hostKernel === hostKernel) return saved.accel;
  const t0 = Date.now();
  const works = await probeKvm(host);
  const accel: Accel = works ? 'kvm' : 'tcg';
  host.log.info({ accel, probeMs: Date.now() - t0 }, 'VM accelerator probed');
  await mkdir(vmDirs(host.dataDir).cache, { recursive: true });
  await writeFile(file, JSON.stringify({ hostKernel, accel, probedAt: new Date().toISOString() }));
  return accel;
}

async function probeKvm(host: VmHost): Promise<boolean> {
  const vm = await bootVm(host, null, { args: ['true'], env: [], workingDir: '/', hostname: 'probe' }, { memoryBytes: 128 * 1024 * 1024, cpus: 1, timeoutMs: PROBE_LIMIT_MS }, {}, 'kvm', ['lc.probe']);
  const end = await vm.ended;
  return end.reason === 'exited' && end.exitCode === 0;
}

// ---- one VM -----------------------------------------------------------------------------------

/** `kernelArgs`: extra words for the guest's kernel command line (tests break the boot with them). */
export async function startVm(host: VmHost, image: VmImage, settings: RunSettings, limits: VmLimits, listener: VmListener = {}, kernelArgs: string[] = []): Promise<Vm> {
  const accel = await hostAccel(host);
  return bootVm(host, image, settings, limits, listener, accel, kernelArgs);
}

async function bootVm(
  host: VmHost,
  image: VmImage | null,
  settings: RunSettings,
  limits: VmLimits,
  listener: VmListener,
  accel: Accel,
  kernelArgs: string[] = [],
): Promise<Vm> {
  const dirs = vmDirs(host.dataDir);
  const kernel = await guestKernel();
  const base = await baseInitramfs(kernel, dirs.cache);
  const disk = image ? await imageDisk(dirs.disks, image.imageId, image.layers) : null;
  const id = `vm-${randomBytes(6).toString('hex')}`;
  const lease = host.idRanges.allocate(id);
  const cleanups: (() => Promise<void>)[] = [async () => host.idRanges.release(lease)];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step().catch((err: unknown) => host.log.warn({ err, vm: id }, 'VM cleanup step failed'));
  };
  try {
    const runDir = await mkdtemp(join(tmpdir(), 'layercake-vm-'));
    cleanups.push(() => rm(runDir, { recursive: true, force: true }));
    await chown(runDir, lease.hostId, lease.hostId);
    // The run's initramfs: the shared archive, then the run's settings (the kernel unpacks both).
    const initramfs = join(runDir, 'initramfs.cpio');
    await writeFile(initramfs, Buffer.concat([await readFile(base), runArchive(settings)]), { mode: 0o400 });
    await chown(initramfs, lease.hostId, lease.hostId);
    const cgroup = await VmCgroup.create(id, { memoryBytes: limits.memoryBytes + QEMU_OVERHEAD_BYTES, pidsMax: 64 + 4 * Math.ceil(limits.cpus), cpus: limits.cpus }, host.cgroupParent);
    cleanups.push(() => cgroup.destroy());
    const diskFile = disk ? await open(disk, 'r') : null;
    let diskOpen = diskFile !== null;
    const closeDisk = async () => {
      if (diskOpen) await diskFile!.close();
      diskOpen = false;
    };
    cleanups.push(closeDisk);
    // The scratch disk lives on the engine's data disk, where the host's and a container's dd
    // write too; qemu gets it as an open file, and it goes with the VM.
    const scratchFiles: Awaited<ReturnType<typeof open>>[] = [];
    const closeScratch = async () => {
      for (const f of scratchFiles.splice(0)) await f.close().catch(() => {});
    };
    if (limits.scratchDiskBytes) {
      const scratchDir = join(dirs.cache, 'scratch');
      await mkdir(scratchDir, { recursive: true, mode: 0o700 });
      const scratchPath = join(scratchDir, `${id}.img`);
      cleanups.push(() => rm(scratchPath, { force: true }));
      cleanups.push(closeScratch);
      scratchFiles.push(await open(scratchPath, 'w+', 0o600));
      await scratchFiles[0]!.truncate(limits.scratchDiskBytes);
      scratchFiles.push(await open(scratchPath, 'r'));
    }
    const scratch = scratchFiles.length === 2 ? ([scratchFiles[0]!.fd, scratchFiles[1]!.fd] as [number, number]) : null;
    const t0 = Date.now();
    const qemu = await QemuProcess.start(
      {
        accel,
        vmlinux: kernel.vmlinux,
        initramfs,
        ...(diskFile ? { diskFd: diskFile.fd } : {}),
        ...(scratch ? { scratchFds: scratch } : {}),
        memoryBytes: limits.memoryBytes,
        cpus: limits.cpus,
        runDir,
        extraKernelArgs: scratch ? [...kernelArgs, 'lc.scratch'] : kernelArgs,
      },
      { uid: lease.hostId, gid: lease.hostId, cgroup },
    );
    // qemu holds the disk open now; the engine's copy of the descriptor is not needed.
    await closeDisk();
    await closeScratch();
    listener.booting?.({ id, accel, vcpus: Math.max(1, Math.ceil(limits.cpus)), memoryBytes: limits.memoryBytes, kernelPackage: kernel.packageName });

    let status: number | null = null;
    let fatal: string | null = null;
    let ended: VmEndReason | null = null;
    let initUptime = 0;
    let ready = false;
    qemu.on('control', (line: ControlLine) => {
      if (line.kind === 'kernel') listener.kernel?.(line.release);
      else if (line.kind === 'init') initUptime = line.uptimeMs;
      else if (line.kind === 'ready' && !ready) {
        ready = true;
        clearTimeout(bootTimer);
        const totalMs = Date.now() - t0;
        const kernelMs = Math.min(initUptime, line.uptimeMs);
        listener.ready?.({ firmwareMs: Math.max(0, totalMs - line.uptimeMs), kernelMs, initMs: line.uptimeMs - kernelMs, totalMs });
      } else if (line.kind === 'exit' && status === null) status = line.status;
      else if (line.kind === 'fatal') fatal = line.what;
    });
    const stop = (reason: VmEndReason) => {
      ended ??= reason;
      qemu.kill();
    };
    const bootLimitMs = Math.min(limits.bootTimeoutMs ?? BOOT_LIMIT_MS[accel], limits.timeoutMs);
    const bootTimer = setTimeout(() => stop('boot-timeout'), bootLimitMs);
    const wallTimer = setTimeout(() => stop('timeout'), limits.timeoutMs);

    const done = qemu.ended.then(async (exit) => {
      clearTimeout(bootTimer);
      clearTimeout(wallTimer);
      const oomKilled = await cgroup.oomKilled();
      await cleanup();
      let end: VmEnd;
      if (ended === 'timeout') end = { reason: 'timeout', exitCode: 124, oomKilled, limitMs: limits.timeoutMs, detail: `the VM ran past its limit of ${Math.round(limits.timeoutMs / 1000)} s` };
      else if (ended === 'boot-timeout') end = { reason: 'boot-timeout', exitCode: 124, oomKilled, limitMs: bootLimitMs, detail: `the guest did not boot to its command within ${Math.round(bootLimitMs / 1000)} s (${accel}): it was killed` };
      else if (ended === 'killed') end = { reason: 'killed', exitCode: 137, oomKilled };
      else if (status !== null) end = { reason: 'exited', exitCode: status, oomKilled };
      else end = { reason: 'crashed', exitCode: 125, oomKilled, detail: fatal ?? (oomKilled ? 'qemu ran out of memory' : exit.stderr.split('\n').slice(-3).join(' ') || `qemu ended (${exit.signal ?? exit.code})`) };
      host.log.info({ vm: id, accel, ...end, ms: Date.now() - t0 }, 'VM ended');
      return end;
    });
    return { id, accel, terminal: qemu, cgroup, ended: done, kill: () => stop('killed') };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
