import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { chainIdsOf, type Digest } from './digest.js';
import { DERIVED_FILE, ImageRecords } from './image-records.js';
import { StorePaths } from './paths.js';
import { ImageConfigSchema } from './schemas.js';
import { removeDir, tempDir } from './test-support/fixtures.js';

const diffIds = ['a', 'b', 'c'].map((c) => `sha256:${c.repeat(64)}` as Digest);
/** A config as a loaded archive may have it: fields the schema does not keep, keys out of its order. */
const configText = (cmd: string) =>
  JSON.stringify({
    docker_version: '24.0.7',
    rootfs: { diff_ids: diffIds, type: 'layers' },
    os: 'linux',
    architecture: 'amd64',
    config: { Cmd: [cmd], Hostname: 'dropped' },
    history: [{ created_by: 'one', created: '2026-01-01T00:00:00Z' }],
  });

describe('image records: what reading a config works out is kept beside it', () => {
  let work: string;
  let records: ImageRecords;
  let paths: StorePaths;
  beforeAll(async () => {
    work = await tempDir('image-records');
    paths = new StorePaths(join(work, 'store'));
    records = new ImageRecords(paths);
  });
  afterAll(() => removeDir(work));

  const expected = (text: string) => {
    const config = ImageConfigSchema.parse(JSON.parse(text));
    return { config, chainIds: chainIdsOf(config.rootfs.diff_ids) };
  };

  it('writes it with the image, and reads give what the schema gives', async () => {
    const text = configText('sh');
    const id = await records.write(Buffer.from(text), Buffer.from('{}'));
    const kept = JSON.parse(await readFile(join(paths.image(id), DERIVED_FILE), 'utf8'));
    expect(kept).toEqual(expected(text));
    const read = await records.read(id);
    expect({ config: read!.config, chainIds: read!.chainIds }).toEqual(expected(text));
    expect(read!.config).not.toHaveProperty('docker_version');
    expect(read!.configBytes.toString()).toBe(text); // the id's bytes, untouched
  });

  it('reads the kept record, not the config again (the control: a marked record is what read() gives)', async () => {
    const text = configText('marked');
    const id = await records.write(Buffer.from(text), Buffer.from('{}'));
    const file = join(paths.image(id), DERIVED_FILE);
    const marked = { ...expected(text), config: { ...expected(text).config, author: 'from the kept record' } };
    await writeFile(file, JSON.stringify(marked));
    expect((await records.read(id))!.config.author).toBe('from the kept record');
  });

  it('derives and keeps it for an image stored before there were any, and again for a broken one', async () => {
    const text = configText('older');
    const id = await records.write(Buffer.from(text), Buffer.from('{}'));
    const file = join(paths.image(id), DERIVED_FILE);
    for (const damage of [null, 'not json', JSON.stringify({ ...expected(text), chainIds: [] })]) {
      if (damage === null) await rm(file);
      else await writeFile(file, damage);
      const read = await records.read(id);
      expect({ config: read!.config, chainIds: read!.chainIds }).toEqual(expected(text));
      expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(expected(text));
    }
    // Nothing but the image's own files is left in its directory.
    expect((await readdir(paths.image(id))).sort()).toEqual(['config.json', DERIVED_FILE, 'manifest.json'].sort());
  });

  it('still reads an image whose record cannot be kept, and leaves no half-written file', async () => {
    const text = configText('unkept');
    const id = await records.write(Buffer.from(text), Buffer.from('{}'));
    const file = join(paths.image(id), DERIVED_FILE);
    await rm(file);
    await mkdir(file); // a rename onto a directory fails, as a write to a read-only store would
    const read = await records.read(id);
    expect({ config: read!.config, chainIds: read!.chainIds }).toEqual(expected(text));
    expect((await readdir(paths.image(id))).sort()).toEqual(['config.json', DERIVED_FILE, 'manifest.json'].sort());
  });

  // Records kept under one schema are read as they were under the next: a change to the schema's
  // shape must come with a new DERIVED_FILE name. This pins the shape; when it fails, bump the
  // number in DERIVED_FILE (image-records.ts) and put the new hash here.
  it('is named for the schema whose output it keeps', () => {
    const shape = (schema: z.ZodType): string => {
      const def = (schema as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
      const child = (key: string) => shape(def[key] as z.ZodType);
      switch (def.type) {
        case 'object':
          return `{${Object.entries(def.shape as Record<string, z.ZodType>).map(([k, v]) => `${k}:${shape(v)}`).join(',')}${def.catchall ? `,...${child('catchall')}` : ''}}`;
        case 'array':
          return `[${child('element')}]`;
        case 'optional':
        case 'nullable':
          return `${def.type}(${child('innerType')})`;
        case 'pipe':
          return `${child('in')}>${child('out')}`;
        case 'record':
          return `record(${child('keyType')},${child('valueType')})`;
        case 'literal':
          return JSON.stringify(def.values);
        default:
          return def.type;
      }
    };
    const hash = createHash('sha256').update(shape(ImageConfigSchema)).digest('hex').slice(0, 16);
    expect({ file: DERIVED_FILE, hash }).toEqual({ file: 'derived-1.json', hash: '8f0f68e2653a8571' });
  });
});
