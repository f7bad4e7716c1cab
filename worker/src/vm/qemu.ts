// One VM's qemu process. qemu faces a hostile guest, so it gets as little as it can run with:
// an unprivileged uid of its own (an id range the engine reserved, so no container maps to it),
// no capabilities and no_new_privs (setpriv), a user namespace of its own owning its network,
// IPC, UTS, mount and pid namespaces (no network at all, even if a device were added), its own
// cgroup (memory without swap, pids, CPU), qemu's seccomp filter (-sandbox: no exec, no setuid, no resource changes), -nodefaults and only the
// devices the guest needs: the serial console, a virtio console for control lines, a read-only
// virtio disk of the image (and, for `compare`, a scratch disk to write). Disks are passed as
// open files (qemu's fdset), so qemu's user needs no access to the engine's data.
//
// The serial console is qemu's stdio: pausing its stdout stream stops qemu reading the guest's
// UART, so a slow viewer holds the guest's output back exactly as the launcher holds a container's.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import { chown } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Attachment } from '../runtime/container-runtime.js';
import type { VmCgroup } from './cgroup.js';

export type Accel = 'kvm' | 'tcg';

export interface QemuOptions {
  accel: Accel;
  /** The uncompressed kernel (PVH entry): no firmware runs before it. */
  vmlinux: string;
  /** The run's initramfs (the shared one with the run's settings after it). */
  initramfs: string;
  /** The image's ext4 disk, opened by the engine and handed over as fd 3; none for the probe. */
  diskFd?: number;
  /**
   * A writable scratch disk (`compare`'s dd target), handed over as fds 4 (read-write) and 5
   * (read-only): qemu takes the fd whose access mode it asks for, and it asks for both.
   */
  scratchFds?: [number, number];
  memoryBytes: number;
  cpus: number;
  /** The run's private directory (qemu's user owns it): the control socket lives there. */
  runDir: string;
  extraKernelArgs?: string[];
}

/** The kernel command line: as short as it can be; each word saves boot time or a device probe. */
export function kernelCommandLine(accel: Accel, extra: string[] = []): string {
  return [
    'console=ttyS0',
    'pci=off', // microvm has no PCI bus: its devices are virtio-mmio, found through ACPI
    'quiet', // boot messages only when something is wrong (they cost time on an emulated UART)…
    'loglevel=3', // …and not even PCI's complaint that microvm has none
    'panic=-1', // a dying init reboots at once, and -no-reboot turns that into qemu exiting
    'reboot=t', // triple fault: microvm has no keyboard controller or ACPI reset register to reboot with
    'tsc=reliable', // no clocksource watchdog
    'i8042.noaux', 'i8042.nokbd', // no PS/2 probing
    // Under TCG the guest's TSC runs at the host's rate, and microvm has no PIT or HPET to
    // measure it against: without this the guest waits forever for a clock it can trust.
    ...(accel === 'tcg' ? [`tsc_early_khz=${hostTscKhz()}`] : []),
    'mitigations=off', // every process in the guest is the learner's: nothing to protect from each other
    'random.trust_cpu=on',
    ...extra,
  ].filter(Boolean).join(' ');
}

function kvmGroup(): number | null {
  const { gid, mode } = statSync('/dev/kvm');
  return gid !== 0 && (mode & 0o060) === 0o060 ? gid : null;
}

let tscKhz: number | null = null;

/** The host's TSC rate, from the CPU's nominal clock (cpuinfo), in kHz. */
function hostTscKhz(): number {
  if (tscKhz === null) {
    const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
    tscKhz = mhz ? Math.round(Number(mhz) * 1000) : 2_000_000;
  }
  return tscKhz;
}

export function qemuArgs(o: QemuOptions): string[] {
  const memMiB = Math.floor(o.memoryBytes / (1024 * 1024));
  const vcpus = Math.max(1, Math.ceil(o.cpus));
  return [
    // ACPI: the only way Debian's kernel finds virtio-mmio devices (it lacks
    // CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES). No option ROMs; qboot is skipped by the PVH entry.
    '-machine', 'microvm,acpi=on,rtc=on,x-option-roms=off,isa-serial=on',
    ...(o.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi,tb-size=64', '-cpu', 'max']),
    '-m', String(memMiB),
    '-smp', String(vcpus),
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    '-kernel', o.vmlinux, '-initrd', o.initramfs, '-append', kernelCommandLine(o.accel, o.extraKernelArgs),
    '-chardev', 'stdio,id=serial,signal=off', '-serial', 'chardev:serial',
    '-device', 'virtio-serial-device',
    '-chardev', `socket,id=ctl,path=${join(o.runDir, 'ctl.sock')}`, '-device', 'virtconsole,chardev=ctl',
    ...(o.diskFd !== undefined
      ? ['-add-fd', 'fd=3,set=1,opaque=image', '-drive', 'if=none,id=image,file=/dev/fdset/1,format=raw,readonly=on', '-device', 'virtio-blk-device,drive=image']
      : []),
    ...(o.scratchFds !== undefined
      ? ['-add-fd', 'fd=4,set=2,opaque=scratch-rw', '-add-fd', 'fd=5,set=2,opaque=scratch-ro', '-drive', 'if=none,id=scratch,file=/dev/fdset/2,format=raw', '-device', 'virtio-blk-device,drive=scratch,serial=lc-scratch']
      : []),
  ];
}

/** What the guest said on its control console, bounded: it is the guest's word, not the engine's. */
export type ControlLine =
  | { kind: 'kernel'; release: string }
  | { kind: 'init'; uptimeMs: number }
  | { kind: 'ready'; uptimeMs: number }
  | { kind: 'exit'; status: number }
  | { kind: 'fatal'; what: string };

const CONTROL_LINE_MAX = 256;
/** A guest saying more than this on its control console is not the init we built: it is ignored. */
const CONTROL_LINES_MAX = 64;

export function parseControlLine(line: string): ControlLine | null {
  const [word, ...rest] = line.trim().split(' ');
  const value = rest.join(' ');
  const seconds = (s: string) => (/^\d+(\.\d+)?$/.test(s) ? Math.round(Number(s) * 1000) : null);
  switch (word) {
    case 'KERNEL':
      return /^[A-Za-z0-9._+-]{1,64}$/.test(value) ? { kind: 'kernel', release: value } : null;
    case 'INIT':
    case 'READY': {
      const ms = seconds(value);
      return ms === null ? null : { kind: word === 'INIT' ? 'init' : 'ready', uptimeMs: ms };
    }
    case 'EXIT':
      return /^\d{1,3}$/.test(value) && Number(value) <= 255 ? { kind: 'exit', status: Number(value) } : null;
    case 'FATAL':
      return { kind: 'fatal', what: value.slice(0, 120) };
    default:
      return null;
  }
}

export interface SpawnIdentity {
  uid: number;
  gid: number;
  cgroup: VmCgroup;
}

/**
 * A running qemu. As an Attachment it is the VM's terminal (the serial console); 'control'
 * events carry the guest's control lines; 'qemu-exit' the process's end (after 'close').
 */
export class QemuProcess extends EventEmitter implements Attachment {
  readonly pid: number;
  readonly ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  private control: Socket | null = null;
  private controlLines = 0;
  private stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly server: Server,
  ) {
    super();
    this.pid = child.pid!;
    child.stdout!.on('data', (chunk: Buffer) => this.emit('output', 'stdout', chunk));
    child.stderr!.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += chunk.toString();
    });
    child.stdin!.on('error', () => {}); // a guest that powered off closes its console
    this.ended = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        server.close();
        this.control?.destroy();
        resolve({ code, signal, stderr: this.stderr.trim() });
        this.emit('close');
      });
    });
  }

  /** Starts qemu as `identity`'s user in its cgroup. The control socket is listening first: qemu connects at start. */
  static async start(options: QemuOptions, identity: SpawnIdentity): Promise<QemuProcess> {
    const socketPath = join(options.runDir, 'ctl.sock');
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    await chown(socketPath, identity.uid, identity.gid);
    const args = qemuArgs(options);
    // sh (root) joins the cgroup, setpriv drops to the VM's user with no capabilities, unshare
    // (as that user) makes a user namespace of its own that owns fresh net, IPC, UTS, mount and
    // pid namespaces and forks qemu into them (unshare's pid is the one the engine holds and
    // kills). In that user namespace qemu is unmapped (nobody) and holds no capability there
    // either (exec as non-root drops them).
    const script = 'for f in $LC_CGROUP_PROCS; do echo $$ > "$f" || exit 125; done; exec "$@"';
    const command = [
      // --pdeathsig: the guest dies with the engine process that started it (a VM has no life
      // detached from its terminal); the wall-clock timer lives in that process too. It survives
      // unshare's new user namespace (a child of this one, owned by the same uid).
      'setpriv', '--pdeathsig=KILL', `--reuid=${identity.uid}`, `--regid=${identity.gid}`,
      // KVM: the one extra group, /dev/kvm's (never root's), so qemu can open it. A /dev/kvm only
      // root may open leaves KVM to root: the probe then fails and the host runs TCG.
      ...(options.accel === 'kvm' && kvmGroup() !== null ? [`--groups=${kvmGroup()}`] : ['--clear-groups']), '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--',
      // --pid --fork: qemu is pid 1 of a pid namespace of its own and sees no host process
      // (--mount-proc); --kill-child: it dies with unshare, which is the pid the engine holds.
      'unshare', '--user', '--net', '--ipc', '--uts', '--mount', '--pid', '--fork', '--kill-child', '--mount-proc', '--',
      'qemu-system-x86_64', ...args,
    ];
    const stdio: StdioOptions = ['pipe', 'pipe', 'pipe', options.diskFd ?? 'ignore', ...(options.scratchFds ?? [])];
    const child: ChildProcess = spawn('/bin/sh', ['-c', script, 'vm', ...command], {
      stdio,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_CGROUP_PROCS: identity.cgroup.procsFiles.join(' ') } as NodeJS.ProcessEnv,
      cwd: options.runDir,
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    const vm = new QemuProcess(child, server);
    server.on('connection', (socket) => {
      // One connection: qemu's. Anything after it is refused.
      if (vm.control) return socket.destroy();
      vm.control = socket;
      socket.on('error', () => {});
      let pending = '';
      socket.on('data', (chunk: Buffer) => {
        pending += chunk.toString('latin1');
        if (pending.length > CONTROL_LINE_MAX * 4) pending = pending.slice(-CONTROL_LINE_MAX);
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl).slice(0, CONTROL_LINE_MAX);
          pending = pending.slice(nl + 1);
          if (++vm.controlLines > CONTROL_LINES_MAX) continue;
          const parsed = parseControlLine(line.replace(/\r$/, ''));
          if (parsed) vm.emit('control', parsed);
        }
      });
    });
    return vm;
  }

  write(data: Buffer | string): void {
    if (!this.child.stdin!.destroyed) this.child.stdin!.write(data);
  }

  get pendingInputBytes(): number {
    return this.child.stdin!.writableLength;
  }

  resize(rows: number, cols: number): void {
    if (this.control && !this.control.destroyed && Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0 && rows < 1000 && cols < 1000)
      this.control.write(`RESIZE ${rows} ${cols}\n`);
  }

  closeInput(): void {
    this.child.stdin!.end();
  }

  pause(): void {
    this.child.stdout!.pause();
  }

  resume(): void {
    this.child.stdout!.resume();
  }

  /** A VM has no detached life: leaving its terminal ends it. */
  detach(): void {
    this.kill();
  }

  /** qemu first: unshare then reaps it and exits with its signal, and this process reaps
   * unshare. Killing unshare first would orphan qemu (--kill-child) to an init that may never
   * reap it; unshare is killed too if it is still there a moment later. */
  kill(): void {
    const signal = (pid: number) => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    };
    let children: number[] = [];
    try {
      children = readFileSync(`/proc/${this.pid}/task/${this.pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
    } catch {
      /* unshare is gone */
    }
    for (const child of children) signal(child);
    if (children.length === 0) return signal(this.pid);
    setTimeout(() => this.child.exitCode === null && this.child.signalCode === null && signal(this.pid), 2_000).unref();
  }
}
