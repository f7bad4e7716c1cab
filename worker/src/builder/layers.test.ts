// What a RUN leaves in its layer, on the real filesystem: an overlay upper dir turned into a
// layer, with overlayfs's own whiteouts and opaque directories, and their OCI form on export.
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { getAttribute } from '@napi-rs/xattr';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layerTar } from '../image-store/index.js';
import { createHarness, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('layers');
});
afterAll(async () => {
  expect(await h.leftovers()).toEqual([]);
  await h.close();
});

/** The directory of the layer a step made. */
function layerDir(built: { steps: { layer?: { chainId: string } }[] }, step: number): string {
  const layer = built.steps[step - 1]!.layer;
  if (!layer) throw new Error(`step ${step} made no layer`);
  return h.store.layerDir(layer.chainId as never);
}

async function tarNames(dir: string): Promise<string[]> {
  const extract = tarStream.extract();
  Readable.from(layerTar(dir)).pipe(extract);
  const names: string[] = [];
  for await (const entry of extract) {
    names.push(entry.header.name);
    entry.resume();
  }
  return names;
}

describe('layers a RUN makes', () => {
  it('a file deleted in a later RUN is a whiteout in that layer and gone from the merged view', async () => {
    const built = await h.build('FROM busybox\nRUN echo data > /made && echo x > /etc/extra\nRUN rm /made /etc/group\n');
    const second = layerDir(built, 3);
    const made = lstatSync(join(second, 'made'));
    expect(made.isCharacterDevice()).toBe(true);
    expect(made.rdev).toBe(0);
    // /etc/group came from the base layer, /etc was copied up to hold its whiteout.
    expect(lstatSync(join(second, 'etc/group')).isCharacterDevice()).toBe(true);
    expect(lstatSync(join(layerDir(built, 2), 'made')).isFile()).toBe(true);
    expect(await h.inImage(built.imageId, 'ls "$ROOT/made" "$ROOT/etc/group" 2>&1 || true')).toMatch(/No such file[\s\S]*No such file/);
    expect(await h.inImage(built.imageId, 'cat "$ROOT/etc/extra"')).toBe('x\n');
    const committed = built.events.ofType('layer.committed').find((e) => e.step === 3)!;
    expect(committed).toMatchObject({ deleted: 2, added: 0, changed: 1 });
    // Exported, the whiteouts become OCI's .wh. entries.
    expect(await tarNames(second)).toEqual(expect.arrayContaining(['.wh.made', 'etc/', 'etc/.wh.group']));
  });

  it('a directory removed and made again is opaque, hiding what lower layers had in it', async () => {
    const built = await h.build('FROM busybox\nRUN mkdir /d && touch /d/old1 /d/old2\nRUN rm -rf /d && mkdir /d && touch /d/new\n');
    const second = layerDir(built, 3);
    expect((await getAttribute(join(second, 'd'), 'trusted.overlay.opaque'))?.toString()).toBe('y');
    expect(await h.inImage(built.imageId, 'ls "$ROOT/d"')).toBe('new\n');
    expect(await tarNames(second)).toEqual(expect.arrayContaining(['d/', 'd/.wh..wh..opq', 'd/new']));
  });

  it('a RUN that changes nothing still makes a (empty) layer, as Docker\'s does', async () => {
    const built = await h.build('FROM busybox\nRUN true\n');
    expect(built.steps[1]!.layer).toMatchObject({ added: 0, changed: 0, deleted: 0 });
  });
});
