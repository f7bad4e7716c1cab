// VMs for real: Debian's guest kernel under qemu (TCG here: this host's nested KVM hangs), the
// image's layers as the guest's root, the serial console as the terminal. Each boot costs
// seconds on a loaded 2-core machine, so the cases share boots where they can. Nothing mocked.
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseImage } from '../base-images/index.js';
import { sharedBaseImage } from '../base-images/test-support/shared.js';
import { ImageStore } from '../image-store/index.js';
import { IdRangeAllocator } from '../runtime/id-ranges.js';
import { startVm, type VmHost, type VmLimits } from './vm.js';

/** VM tests' host uid window: apart from the product's and the other suites'. */
const ID_BASE = 2_200_000_000; // its own window: cli.test.ts uses 2_100_000_000
const CGROUP_PARENT = `layercake-vm-test-${process.pid}`;
const limits: VmLimits = { memoryBytes: 256 * 1024 * 1024, cpus: 1, timeoutMs: 120_000 };
const ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'];

let work: string;
let store: ImageStore;
let host: VmHost;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'layercake-vm-test-'));
  store = await ImageStore.open(join(work, 'store'));
  const log = pino({ level: 'warn' });
  host = { dataDir: work, idRanges: new IdRangeAllocator({ dir: join(work, 'id-ranges'), baseId: ID_BASE }), log, cgroupParent: CGROUP_PARENT };
  await ensureBaseImage(store, 'busybox');
}, 120_000);

afterAll(async () => {
  const left = await leftovers();
  for (const c of ['memory', 'pids', 'cpu', '']) {
    const dir = join('/sys/fs/cgroup', c, CGROUP_PARENT);
    if (existsSync(dir)) rmdirSync(dir);
  }
  await rm(work, { recursive: true, force: true });
  expect(left).toEqual([]);
});

/** What a VM may leave: qemu processes of this suite's uids, cgroups, run dirs, id-range locks. */
async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    const status = (() => {
      try {
        return readFileSync(`/proc/${pid}/status`, 'utf8');
      } catch {
        return '';
      }
    })();
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
    if (uid >= ID_BASE && uid < ID_BASE + 100 * 65536) found.push(`process ${pid} (uid ${uid}, ${/^State:\s+(.*)$/m.exec(status)?.[1]}, ${/^Name:\s+(.*)$/m.exec(status)?.[1]}, ppid ${/^PPid:\s+(.*)$/m.exec(status)?.[1]})`);
  }
  for (const c of ['memory', 'pids', 'cpu', '']) {
    const dir = join('/sys/fs/cgroup', c, CGROUP_PARENT);
    if (existsSync(dir)) for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) found.push(`cgroup ${join(dir, e.name)}`);
  }
  for (const d of readdirSync(tmpdir())) if (/^layercake-vm-[A-Za-z0-9]{6}$/.test(d)) found.push(`run dir ${d}`);
  const ids = join(work, 'id-ranges');
  if (existsSync(ids)) for (const f of readdirSync(ids)) found.push(`id range ${f}`);
  if (readFileSync('/proc/mounts', 'utf8').includes(work)) found.push('a mount under the test dir');
  return found;
}

/** Boots `image`, runs `args`, collects the serial console; `input` is typed once the command runs. */
async function boot(imageRef: string, args: string[], options: { input?: string; kernelArgs?: string[]; limits?: Partial<VmLimits> } = {}) {
  const image = await store.inspect(imageRef);
  const layers = await store.layerDirs(imageRef);
  const facts: { kernel?: string; ready?: unknown; accel?: string } = {};
  const vm = await startVm(
    host,
    { imageId: image.id, layers },
    { args, env: ENV, workingDir: '/', hostname: 'vm' },
    { ...limits, ...options.limits },
    {
      booting: (b) => (facts.accel = b.accel),
      kernel: (k) => (facts.kernel = k),
      ready: (t) => {
        facts.ready = t;
        if (options.input) setTimeout(() => vm.terminal.write(options.input!), 200);
      },
    },
    options.kernelArgs,
  );
  let console = '';
  vm.terminal.on('output', (_s, d: Buffer) => (console += d.toString()));
  const end = await vm.ended;
  return { end, console, facts, vm };
}

const hostKernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();

describe('an image booted as a VM', () => {
  it('busybox: Debian’s guest kernel, the VM’s own init as PID 1, the image’s files; `exit 3` in the serial terminal ends it with 3', async () => {
    const { end, console, facts } = await boot('busybox', ['sh'], {
      input: 'echo K=$(uname -r); echo P1=$(cat /proc/1/comm); ls /bin/busybox; exit 3\n',
    });
    expect(end).toMatchObject({ reason: 'exited', exitCode: 3 });
    expect(facts.kernel).toMatch(/^\d+\.\d+\.\d+-\d+-amd64$/);
    expect(facts.kernel).not.toBe(hostKernel);
    expect(console).toContain(`K=${facts.kernel}`);
    // A container's PID 1 is its command (sh); the VM's is the guest's init.
    expect(console).toContain('P1=init');
    expect(console).toContain('/bin/busybox');
    expect(facts.ready).toMatchObject({ firmwareMs: expect.any(Number), kernelMs: expect.any(Number), initMs: expect.any(Number) });
    expect(await leftovers()).toEqual([]);
  }, 150_000);

  it('debian:bookworm-slim boots with its own files (its os-release), on the guest kernel', async () => {
    await sharedBaseImage(store, 'debian:bookworm-slim');
    const { end, console, facts } = await boot('debian:bookworm-slim', ['sh', '-c', 'echo K=$(uname -r); grep ^VERSION_CODENAME /etc/os-release; echo P1=$(cat /proc/1/comm)']);
    expect(end).toMatchObject({ reason: 'exited', exitCode: 0 });
    expect(console).toContain('VERSION_CODENAME=bookworm');
    expect(console).toContain(`K=${facts.kernel}`);
    expect(console).toContain('P1=init');
    expect(facts.kernel).not.toBe(hostKernel);
    expect(await leftovers()).toEqual([]);
  }, 600_000);

  it('a guest that never boots to its command is killed at its boot limit, with a message that says so', async () => {
    // rdinit=/bin/sh: the kernel runs a bare shell instead of our init, which waits for input forever.
    const { end } = await boot('busybox', ['true'], { kernelArgs: ['rdinit=/bin/sh'], limits: { bootTimeoutMs: 8_000 } });
    expect(end.reason).toBe('boot-timeout');
    expect(end.detail).toMatch(/did not boot to its command within 8 s .*killed/);
    expect(await leftovers()).toEqual([]);
  }, 60_000);

  it('a command past the wall-clock limit is killed, and a killed VM leaves nothing', async () => {
    const timed = await boot('busybox', ['sleep', '1000'], { limits: { timeoutMs: 25_000, bootTimeoutMs: 25_000 } });
    // Either limit may be the one that fires on a loaded machine; both kill the guest.
    expect(['timeout', 'boot-timeout']).toContain(timed.end.reason);
    expect(timed.end.exitCode).toBe(124);
    expect(await leftovers()).toEqual([]);

    const image = await store.inspect('busybox');
    const vm = await startVm(host, { imageId: image.id, layers: await store.layerDirs('busybox') }, { args: ['sleep', '1000'], env: ENV, workingDir: '/', hostname: 'vm' }, limits);
    // While it runs: qemu is in its cgroup as the VM's unprivileged user, not root.
    // (The wrapper joins the cgroup as root, then becomes qemu as the VM's user, which installs
    // its seccomp filter once it has set up: wait for that.)
    // qemu is unshare's child (the pid the engine holds is unshare's), forked into its own pid namespace.
    const holder = vm.terminal.pid;
    let qemu = 0;
    let status = '';
    for (let i = 0; i < 200 && !/^Seccomp:\s+2$/m.test(status); i++) {
      await new Promise((r) => setTimeout(r, 50));
      qemu = Number(readFileSync(`/proc/${holder}/task/${holder}/children`, 'utf8').trim().split(' ')[0] || 0);
      status = qemu ? readFileSync(`/proc/${qemu}/status`, 'utf8') : '';
    }
    expect(await vm.cgroup.pids()).toEqual(expect.arrayContaining([holder, qemu]));
    expect(Number(/^Uid:\s+(\d+)/m.exec(status)?.[1])).toBeGreaterThanOrEqual(ID_BASE);
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    // pid 1 of its own pid namespace: it sees no host process.
    expect(status).toMatch(new RegExp(`^NSpid:\\s+${qemu}\\s+1$`, 'm'));
    // Namespaces of its own: a user namespace (qemu is nobody in it) owning its network, IPC,
    // UTS, mount and pid namespaces; the engine's are the host's.
    for (const ns of ['user', 'net', 'ipc', 'uts', 'mnt', 'pid']) expect(readlinkSync(`/proc/${qemu}/ns/${ns}`), ns).not.toBe(readlinkSync(`/proc/self/ns/${ns}`));
    expect(readFileSync(`/proc/${qemu}/uid_map`, 'utf8').trim()).toBe('');
    vm.kill();
    expect(await vm.ended).toMatchObject({ reason: 'killed', exitCode: 137 });
    expect(await leftovers()).toEqual([]);
  }, 120_000);
});
