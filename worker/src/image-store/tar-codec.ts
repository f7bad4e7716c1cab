/**
 * A small tar codec (POSIX ustar + PAX extended headers, GNU long names on read) for layer tars.
 *
 * Why not tar-stream here, as elsewhere: layer tars carry `security.capability` as the PAX
 * record `SCHILY.xattr.security.capability`, whose value is raw binary. tar-stream encodes and
 * decodes PAX values as UTF-8 strings (headers.js encodePax/decodePax), so a capability byte
 * >= 0x80 is written as two bytes and one read from a Docker-made tar becomes U+FFFD. A layer's
 * identity is the sha256 of its tar bytes, so we need byte-exact control of every header anyway.
 * The outer `docker save` archive holds only plain files and still uses tar-stream.
 */

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'chardev' | 'blockdev' | 'directory' | 'fifo';

export interface TarHeader {
  /** Relative path without a leading `./`; no trailing slash (the writer adds one for directories). */
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Body length in bytes; only files have a body. */
  size: number;
  /** Seconds since the epoch. Whole seconds when written by us; a PAX header may give a fraction. */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, carried as PAX `SCHILY.xattr.<name>` records. */
  xattrs?: ReadonlyMap<string, Buffer>;
}

export const TAR_BLOCK = 512;
/** Two zero blocks end an archive. */
export const TAR_END = Buffer.alloc(TAR_BLOCK * 2);

const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  chardev: '3',
  blockdev: '4',
  directory: '5',
  fifo: '6',
};

/** Zero bytes that pad a body of `size` bytes up to the next block boundary. */
export function tarPadding(size: number): Buffer {
  const rest = size % TAR_BLOCK;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(TAR_BLOCK - rest);
}

const isAscii = (s: string): boolean => /^[\x01-\x7f]*$/.test(s);

/** Octal digits, zero-padded, NUL-terminated; null when the value does not fit the field. */
function octalField(value: number, width: number): Buffer | null {
  if (!Number.isInteger(value) || value < 0) return null;
  const digits = value.toString(8);
  if (digits.length > width - 1) return null;
  return Buffer.from(digits.padStart(width - 1, '0') + '\0', 'latin1');
}

/** Split a long name into ustar's prefix (155) and name (100) fields at a slash, if possible. */
function splitUstarName(name: string): { prefix: string; name: string } | null {
  if (!isAscii(name)) return null;
  if (name.length <= 100) return { prefix: '', name };
  for (let i = Math.min(155, name.length - 2); i > 0; i--) {
    if (name[i] !== '/') continue;
    const rest = name.slice(i + 1);
    if (rest.length === 0 || rest.length > 100) return null; // a smaller prefix only lengthens rest
    return { prefix: name.slice(0, i), name: rest };
  }
  return null;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  // The length prefix counts itself, so grow it until it is self-consistent.
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length), 'ascii'), body]);
}

function encodeBlock(fields: {
  name: string;
  prefix: string;
  mode: number;
  uid: Buffer;
  gid: Buffer;
  size: Buffer;
  mtime: Buffer;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const block = Buffer.alloc(TAR_BLOCK);
  block.write(fields.name, 0, 100, 'latin1');
  octalField(fields.mode, 8)!.copy(block, 100);
  fields.uid.copy(block, 108);
  fields.gid.copy(block, 116);
  fields.size.copy(block, 124);
  fields.mtime.copy(block, 136);
  block.write(fields.typeflag, 156, 1, 'latin1');
  block.write(fields.linkname, 157, 100, 'latin1');
  block.write('ustar\0', 257, 6, 'latin1');
  block.write('00', 263, 2, 'latin1');
  // uname and gname stay empty: numeric ids are the truth, and names would make the bytes
  // depend on the host's /etc/passwd.
  octalField(fields.devmajor, 8)!.copy(block, 329);
  octalField(fields.devminor, 8)!.copy(block, 337);
  block.write(fields.prefix, 345, 155, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return block;
}

/**
 * The header block(s) for one entry: a PAX extended header first when some value does not fit
 * ustar (long or non-ASCII names, big ids or sizes, negative times, xattrs). Output depends only
 * on the header's fields, so equal inputs always give equal bytes.
 */
export function encodeTarHeader(header: TarHeader): Buffer {
  const pax = new Map<string, Buffer>();
  const fullName = header.type === 'directory' ? `${header.name}/` : header.name;

  let split = splitUstarName(fullName);
  if (split === null) {
    pax.set('path', Buffer.from(fullName, 'utf8'));
    split = { prefix: '', name: '' };
  }
  let linkname = header.linkname ?? '';
  if (!isAscii(linkname) || linkname.length > 100) {
    pax.set('linkpath', Buffer.from(linkname, 'utf8'));
    linkname = '';
  }
  const numeric = (key: string, value: number, width: number): Buffer => {
    const field = octalField(value, width);
    if (field !== null) return field;
    pax.set(key, Buffer.from(String(value), 'ascii'));
    return octalField(0, width)!;
  };
  const uid = numeric('uid', header.uid, 8);
  const gid = numeric('gid', header.gid, 8);
  const size = numeric('size', header.size, 12);
  const mtime = numeric('mtime', header.mtime, 12);
  for (const [key, value] of header.xattrs ?? []) pax.set(`SCHILY.xattr.${key}`, value);

  const main = encodeBlock({
    name: split.name,
    prefix: split.prefix,
    mode: header.mode & 0o7777,
    uid,
    gid,
    size,
    mtime,
    typeflag: TYPEFLAG[header.type],
    linkname,
    devmajor: header.devmajor ?? 0,
    devminor: header.devminor ?? 0,
  });
  if (pax.size === 0) return main;

  const records = Buffer.concat([...pax.keys()].sort().map((key) => paxRecord(key, pax.get(key)!)));
  const paxHeader = encodeBlock({
    name: 'PaxHeader',
    prefix: '',
    mode: 0o644,
    uid: octalField(0, 8)!,
    gid: octalField(0, 8)!,
    size: octalField(records.length, 12)!,
    mtime: octalField(0, 12)!,
    typeflag: 'x',
    linkname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, records, tarPadding(records.length), main]);
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface TarReadLimits {
  /** Largest body a single entry may declare. */
  maxEntryBytes: number;
  /** Largest PAX or GNU long-name header. */
  maxMetaBytes: number;
}

export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

export interface TarEntry {
  header: TarHeader;
  /** The entry's body; whatever the consumer leaves unread is skipped. */
  body: AsyncIterable<Buffer>;
}

/** Pulls exact byte counts out of an async stream of chunks. */
class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  constructor(private readonly source: AsyncIterator<Buffer | string>) {}

  private async fill(wanted: number): Promise<void> {
    while (this.buffered < wanted && !this.ended) {
      const next = await this.source.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
      if (chunk.length === 0) continue;
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
  }

  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0]!;
      const used = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, used);
      filled += used;
      if (used === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(used);
    }
    this.buffered -= n;
    return out;
  }

  /** Exactly n bytes, or null at a clean end of input; a partial read is an error. */
  async exact(n: number): Promise<Buffer | null> {
    await this.fill(n);
    if (this.buffered === 0 && this.ended) return null;
    if (this.buffered < n) throw new TarFormatError('tar archive is truncated');
    return this.take(n);
  }

  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0) await this.fill(1);
      if (this.buffered === 0) throw new TarFormatError('tar archive is truncated');
      const head = this.chunks[0]!;
      const part = head.length <= left ? head : head.subarray(0, left);
      if (part === head) this.chunks.shift();
      else this.chunks[0] = head.subarray(left);
      this.buffered -= part.length;
      left -= part.length;
      yield part;
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeName(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new TarFormatError(`${what} is not valid UTF-8`);
  }
}

function cString(block: Buffer, offset: number, length: number): Buffer {
  const field = block.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return nul === -1 ? field : field.subarray(0, nul);
}

function parseNumber(block: Buffer, offset: number, length: number, what: string): number {
  const field = block.subarray(offset, offset + length);
  if ((field[0]! & 0x80) !== 0) {
    // GNU base-256: big-endian binary. 0x80 marks a positive number in the remaining bits;
    // 0xff starts a negative one, two's complement over the whole field.
    let value = 0n;
    for (let i = 0; i < field.length; i++) {
      value = (value << 8n) | BigInt(i === 0 && field[0] !== 0xff ? field[0]! & 0x7f : field[i]!);
    }
    if (field[0] === 0xff) value -= 1n << BigInt(8 * field.length);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new TarFormatError(`tar header ${what} is out of range`);
    }
    return Number(value);
  }
  const text = cString(block, offset, length).toString('latin1').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`tar header ${what} is not an octal number`);
  return parseInt(text, 8);
}

function checksumMatches(block: Buffer): boolean {
  const stored = parseNumber(block, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

function parsePax(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad the records with NULs
    const space = data.indexOf(0x20, pos);
    if (space === -1) throw new TarFormatError('malformed PAX record');
    const length = Number(data.subarray(pos, space).toString('ascii'));
    if (!Number.isInteger(length) || length <= space - pos || pos + length > data.length) {
      throw new TarFormatError('malformed PAX record length');
    }
    const record = data.subarray(space + 1, pos + length);
    if (record[record.length - 1] !== 0x0a) throw new TarFormatError('PAX record without newline');
    const eq = record.indexOf(0x3d);
    if (eq === -1) throw new TarFormatError('PAX record without "="');
    records.set(record.subarray(0, eq).toString('utf8'), record.subarray(eq + 1, record.length - 1));
    pos += length;
  }
  return records;
}

function paxNumber(value: Buffer, key: string, fractional = false): number {
  const text = value.toString('ascii');
  const pattern = fractional ? /^-?\d+(\.\d+)?$/ : /^\d+$/;
  if (!pattern.test(text)) throw new TarFormatError(`PAX ${key} is not a number: ${JSON.stringify(text)}`);
  const parsed = Number(text);
  if (!Number.isFinite(parsed) || Math.abs(parsed) > Number.MAX_SAFE_INTEGER) {
    throw new TarFormatError(`PAX ${key} is out of range`);
  }
  return parsed;
}

/**
 * Reads tar entries from a stream of chunks. Each entry's body must be consumed (or abandoned)
 * before asking for the next; leftovers are skipped. Sparse files, multi-volume and other
 * exotic GNU entries are refused rather than misread.
 */
export async function* readTar(source: AsyncIterable<Buffer | string>, limits: TarReadLimits): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(source[Symbol.asyncIterator]());
  let pax: Map<string, Buffer> | null = null;
  let longName: string | null = null;
  let longLink: string | null = null;

  const readMeta = async (size: number, what: string): Promise<Buffer> => {
    if (size > limits.maxMetaBytes) throw new TarFormatError(`${what} of ${size} bytes is too large`);
    const data = (await reader.exact(size)) ?? Buffer.alloc(0);
    if (data.length !== size) throw new TarFormatError('tar archive is truncated');
    await reader.exact(tarPadding(size).length);
    return data;
  };

  for (;;) {
    const block = await reader.exact(TAR_BLOCK);
    if (block === null) return; // tolerated: some writers omit the end-of-archive blocks
    if (block.every((byte) => byte === 0)) return;
    if (!checksumMatches(block)) throw new TarFormatError('tar header checksum mismatch (not a tar archive, or corrupted)');

    const typeflag = String.fromCharCode(block[156]!);
    const declaredSize = parseNumber(block, 124, 12, 'size');
    if (declaredSize < 0) throw new TarFormatError('tar header declares a negative size');

    if (typeflag === 'x') {
      pax = parsePax(await readMeta(declaredSize, 'PAX header'));
      continue;
    }
    if (typeflag === 'g') {
      // Global PAX headers (e.g. `git archive` comments) hold nothing a layer needs.
      await readMeta(declaredSize, 'global PAX header');
      continue;
    }
    if (typeflag === 'L' || typeflag === 'K') {
      const data = await readMeta(declaredSize, 'GNU long name');
      const nul = data.indexOf(0);
      const text = decodeName(nul === -1 ? data : data.subarray(0, nul), 'GNU long name');
      if (typeflag === 'L') longName = text;
      else longLink = text;
      continue;
    }

    const ustar = block.subarray(257, 263).toString('latin1') === 'ustar\0';
    let name = decodeName(cString(block, 0, 100), 'entry name');
    if (ustar) {
      const prefix = cString(block, 345, 155);
      if (prefix.length > 0) name = `${decodeName(prefix, 'entry name')}/${name}`;
    }
    let linkname = decodeName(cString(block, 157, 100), 'link target');
    let size = declaredSize;
    let uid = parseNumber(block, 108, 8, 'uid');
    let gid = parseNumber(block, 116, 8, 'gid');
    let mtime = parseNumber(block, 136, 12, 'mtime');
    const xattrs = new Map<string, Buffer>();

    if (longName !== null) name = longName;
    if (longLink !== null) linkname = longLink;
    if (pax !== null) {
      for (const [key, value] of pax) {
        if (key === 'path') name = decodeName(value, 'PAX path');
        else if (key === 'linkpath') linkname = decodeName(value, 'PAX linkpath');
        else if (key === 'size') size = paxNumber(value, key);
        else if (key === 'uid') uid = paxNumber(value, key);
        else if (key === 'gid') gid = paxNumber(value, key);
        else if (key === 'mtime') mtime = paxNumber(value, key, true);
        else if (key.startsWith('SCHILY.xattr.')) xattrs.set(key.slice('SCHILY.xattr.'.length), value);
        else if (key.startsWith('GNU.sparse.')) throw new TarFormatError(`sparse file ${name} is not supported`);
      }
    }
    pax = null;
    longName = null;
    longLink = null;

    let type: TarEntryType;
    switch (typeflag) {
      case '0':
      case '\0':
      case '7':
        type = typeflag === '\0' && name.endsWith('/') ? 'directory' : 'file';
        break;
      case '1':
        type = 'hardlink';
        break;
      case '2':
        type = 'symlink';
        break;
      case '3':
        type = 'chardev';
        break;
      case '4':
        type = 'blockdev';
        break;
      case '5':
        type = 'directory';
        break;
      case '6':
        type = 'fifo';
        break;
      default:
        throw new TarFormatError(`tar entry ${JSON.stringify(name)} has unsupported type ${JSON.stringify(typeflag)}`);
    }
    if (size > limits.maxEntryBytes) {
      throw new TarFormatError(`tar entry ${JSON.stringify(name)} declares ${size} bytes, more than the limit of ${limits.maxEntryBytes}`);
    }

    const header: TarHeader = {
      name: name.replace(/\/+$/, ''),
      type,
      mode: parseNumber(block, 100, 8, 'mode') & 0o7777,
      uid,
      gid,
      size: type === 'file' ? size : 0,
      mtime,
      linkname: type === 'hardlink' || type === 'symlink' ? linkname : undefined,
      devmajor: parseNumber(block, 329, 8, 'devmajor'),
      devminor: parseNumber(block, 337, 8, 'devminor'),
      xattrs,
    };

    // Some writers give hard links and directories a size; their bytes are skipped, never used.
    let left = size;
    async function* body(): AsyncGenerator<Buffer> {
      if (type !== 'file') return;
      for await (const chunk of reader.stream(left)) {
        left -= chunk.length;
        yield chunk;
      }
    }
    yield { header, body: body() };
    for await (const chunk of reader.stream(left)) left -= chunk.length;
    await reader.exact(tarPadding(size).length);
  }
}
