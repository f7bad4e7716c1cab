// The "newc" cpio format the kernel unpacks an initramfs from (Documentation/driver-api/
// early-userspace/buffer-format.rst): a 110-byte ASCII header per entry, name and data each
// padded to 4 bytes, a TRAILER!!! entry last. The kernel unpacks archives laid end to end one
// after the other, which is how a run's settings are added to the shared initramfs.

export interface CpioEntry {
  path: string;
  /** File type and permission bits, e.g. 0o100755 for an executable, 0o40755 for a directory. */
  mode: number;
  data?: Buffer;
  /** For symlinks: the target (stored as the data). */
  rdevMajor?: number;
  rdevMinor?: number;
}

function pad4(n: number): Buffer {
  return Buffer.alloc((4 - (n % 4)) % 4);
}

function header(fields: number[]): string {
  return '070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join('');
}

export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of [...entries, { path: 'TRAILER!!!', mode: 0 }] as CpioEntry[]) {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(e.path + '\0');
    // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
    const h = Buffer.from(header([ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, e.rdevMajor ?? 0, e.rdevMinor ?? 0, name.length, 0]), 'ascii');
    parts.push(h, name, pad4(h.length + name.length), data, pad4(data.length));
  }
  return Buffer.concat(parts);
}
