// The VM's initramfs: busybox-static, the kernel modules the guest needs to reach its disk and
// its control console, and guest-init.sh as /init. Built once per kernel and init (cached under
// the engine's data dir); a run adds its own settings as a second archive laid after it.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GuestKernel } from './kernel.js';
import { cpioArchive, type CpioEntry } from './cpio.js';

/** Debian's busybox-static: one binary, no libraries to carry along. */
const BUSYBOX = '/bin/busybox';
const INIT = new URL('./guest-init.sh', import.meta.url).pathname;

/** Kernel features the guest needs, and the module providing each where Debian builds it as one. */
const MODULE_OF: Record<string, string> = {
  VIRTIO_MMIO: 'virtio_mmio', // microvm's devices sit on virtio-mmio, not PCI
  VIRTIO_BLK: 'virtio_blk',
  VIRTIO_CONSOLE: 'virtio_console',
  EXT4_FS: 'ext4',
  // ext4 asks the crypto API for "crc32c" by name at mount time: no module dependency says so.
  CRYPTO_CRC32C: 'crc32c_generic',
  OVERLAY_FS: 'overlay',
};
/** Built in or nothing works: the guest has no way to load them before it needs them. */
const BUILT_IN = ['DEVTMPFS', 'BLK_DEV_INITRD', 'SERIAL_8250_CONSOLE', 'TMPFS', 'UNIX98_PTYS'];

async function moduleFiles(dir: string, into = new Map<string, string>()): Promise<Map<string, string>> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await moduleFiles(path, into);
    else if (entry.name.endsWith('.ko')) into.set(entry.name.slice(0, -3).replace(/-/g, '_'), path);
  }
  return into;
}

/** The modules to load, each after its dependencies (from .modinfo's depends=; no modules.dep). */
async function loadOrder(kernel: GuestKernel): Promise<{ name: string; path: string }[]> {
  for (const opt of BUILT_IN)
    if (kernel.config.get(opt) !== 'y') throw new Error(`guest kernel ${kernel.packageName} lacks built-in CONFIG_${opt}`);
  const files = await moduleFiles(kernel.modulesDir);
  const order: { name: string; path: string }[] = [];
  const seen = new Set<string>();
  const add = async (name: string): Promise<void> => {
    if (seen.has(name)) return;
    seen.add(name);
    const path = files.get(name);
    if (!path) throw new Error(`module ${name} is not in the unpacked kernel (scripts/guest-kernel.sh's list)`);
    const deps = /depends=([A-Za-z0-9_,-]*)/.exec((await readFile(path)).toString('latin1'))?.[1];
    for (const dep of deps ? deps.split(',').filter(Boolean) : []) await add(dep.replace(/-/g, '_'));
    order.push({ name, path });
  };
  for (const [opt, module] of Object.entries(MODULE_OF)) {
    const value = kernel.config.get(opt);
    if (value === 'm') await add(module);
    else if (value !== 'y') throw new Error(`guest kernel ${kernel.packageName} has no CONFIG_${opt}`);
  }
  return order;
}

/** The shared initramfs for this kernel and init, built if missing. */
export async function baseInitramfs(kernel: GuestKernel, cacheDir: string): Promise<string> {
  const init = await readFile(INIT);
  const busybox = await readFile(BUSYBOX);
  const key = createHash('sha256').update(kernel.packageName).update(init).update(busybox).digest('hex').slice(0, 16);
  const path = join(cacheDir, `initramfs-${key}.cpio`);
  if (await stat(path).then(() => true, () => false)) return path;
  const modules = await loadOrder(kernel);
  const dirs = ['bin', 'dev', 'proc', 'sys', 'lib', 'lib/modules', 'lc'];
  const entries: CpioEntry[] = [
    ...dirs.map((d) => ({ path: d, mode: 0o40755 })),
    // The kernel opens /dev/console for init before anything could mount devtmpfs.
    { path: 'dev/console', mode: 0o20600, rdevMajor: 5, rdevMinor: 1 },
    { path: 'bin/busybox', mode: 0o100755, data: busybox },
    { path: 'bin/sh', mode: 0o120777, data: Buffer.from('busybox') },
    { path: 'init', mode: 0o100755, data: init },
    ...(await Promise.all(modules.map(async (m) => ({ path: `lib/modules/${m.name}.ko`, mode: 0o100644, data: await readFile(m.path) })))),
    { path: 'lib/modules/load-order', mode: 0o100644, data: Buffer.from(modules.map((m) => m.name).join('\n') + '\n') },
  ];
  await mkdir(cacheDir, { recursive: true });
  // Uncompressed: an emulated CPU would spend longer unpacking than the host saves reading.
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, cpioArchive(entries));
  await rename(tmp, path);
  return path;
}

export interface RunSettings {
  args: string[];
  env: string[];
  workingDir: string;
  hostname: string;
  rows?: number;
  cols?: number;
}

/** A shell word that means exactly `s` (single quotes; a quote inside as '\''). */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The run's /lc/run.sh, which /init sources: its command, environment and terminal. */
export function runArchive(settings: RunSettings): Buffer {
  const lines = [
    `LC_WORKDIR=${shellQuote(settings.workingDir || '/')}`,
    `LC_HOSTNAME=${shellQuote(settings.hostname)}`,
    `LC_ROWS=${settings.rows ?? ''}`,
    `LC_COLS=${settings.cols ?? ''}`,
    `set -- ${settings.args.map(shellQuote).join(' ')}`,
    ...settings.env.filter((e) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(e)).map((e) => `export ${shellQuote(e)}`),
  ];
  return cpioArchive([{ path: 'lc/run.sh', mode: 0o100644, data: Buffer.from(lines.join('\n') + '\n') }]);
}
