/** Reading and hand-crafting outer (docker save) archives in tests, with tar-stream. */
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import tar, { type Header } from 'tar-stream';

export interface ArchiveMember {
  name: string;
  type?: Header['type'];
  linkname?: string;
  data?: Buffer;
  mtime?: Date;
  uid?: number;
}

export async function readArchive(file: string): Promise<Map<string, ArchiveMember>> {
  const members = new Map<string, ArchiveMember>();
  const extract = tar.extract();
  const feeding = pipeline(createReadStream(file), extract);
  for await (const entry of extract) {
    const parts: Buffer[] = [];
    for await (const chunk of entry) parts.push(chunk as Buffer);
    members.set(entry.header.name, {
      name: entry.header.name,
      type: entry.header.type,
      linkname: entry.header.linkname,
      data: Buffer.concat(parts),
      mtime: entry.header.mtime,
      uid: entry.header.uid,
    });
  }
  await feeding;
  return members;
}

export async function writeArchive(file: string, members: Iterable<ArchiveMember>): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(file));
  for (const member of members) {
    await new Promise<void>((resolve, reject) => {
      const header = { name: member.name, type: member.type ?? 'file', linkname: member.linkname, mtime: new Date(0) };
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (header.type === 'file') pack.entry(header, member.data ?? Buffer.alloc(0), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
}

export function json(member: ArchiveMember): unknown {
  return JSON.parse(member.data!.toString('utf8'));
}
