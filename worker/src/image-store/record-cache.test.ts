import { describe, expect, it } from 'vitest';
import { parseRecord } from './record-cache.js';
import { ImageConfigSchema, LayerRecordSchema } from './schemas.js';

const diffId = `sha256:${'a'.repeat(64)}`;
const config = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, config: { Env: ['A=1'], Hostname: 'dropped' } };

describe('parseRecord', () => {
  it('gives what the schema gives, unknown fields dropped, the second time as the first', () => {
    const text = JSON.stringify({ ...config, docker_version: '24' });
    const first = parseRecord(ImageConfigSchema, text);
    const second = parseRecord(ImageConfigSchema, text);
    expect(first).toEqual(ImageConfigSchema.parse(JSON.parse(text)));
    expect(second).toEqual(first);
    expect(second).not.toHaveProperty('docker_version');
    expect(second.config).not.toHaveProperty('Hostname');
  });

  it('gives each caller an object of its own', () => {
    const text = JSON.stringify(config);
    const first = parseRecord(ImageConfigSchema, text);
    first.config!.Env!.push('B=2');
    expect(parseRecord(ImageConfigSchema, text).config!.Env).toEqual(['A=1']);
  });

  it('checks a changed text anew: a record broken on disk is refused, though its old text was accepted', () => {
    const good = { chainId: diffId, diffId, parent: null, size: 1, tarSize: 1024, changes: null, createdAt: '2026-01-01T00:00:00Z', source: 'commit', originalTar: false };
    expect(parseRecord(LayerRecordSchema, JSON.stringify(good)).size).toBe(1);
    expect(() => parseRecord(LayerRecordSchema, JSON.stringify({ ...good, size: -1 }))).toThrow();
    // The control: the same text through the same schema is refused every time, not only the first.
    expect(() => parseRecord(LayerRecordSchema, JSON.stringify({ ...good, size: -1 }))).toThrow();
  });

  it('keeps each schema’s checks apart: a text accepted as one record is not taken as another', () => {
    const text = JSON.stringify(config);
    parseRecord(ImageConfigSchema, text);
    expect(() => parseRecord(LayerRecordSchema, text)).toThrow();
  });
});
