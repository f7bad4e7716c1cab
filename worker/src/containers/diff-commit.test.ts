// `diff` and `commit` on real writable layers: what a container changed, as Docker lists it, and
// that change turned into an image layer a new container runs on.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Containers } from './containers.js';
import { createHarness, eventually, logsOf, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('diff-commit');
});
afterEach(async () => {
  await h.clean();
});
afterAll(async () => {
  await h?.close();
});

async function runToEnd(c: Containers, cmd: string[], image = 'busybox'): Promise<{ id: string; out: string; exitCode: number }> {
  const { container } = await c.run({ image, cmd });
  const { exitCode } = await c.wait(container.id);
  return { id: container.id, out: await logsOf(c, container.id), exitCode };
}

describe('diff', () => {
  it('lists added, changed and deleted paths like docker diff, including deletions of image files', async () => {
    const c = h.containers();
    const { id, exitCode } = await runToEnd(c, [
      'sh',
      '-c',
      'echo new > /added.txt && echo more >> /etc/passwd && rm /etc/group && rm -r /home && mkdir -p /tmp/made/deep',
    ]);
    expect(exitCode).toBe(0);
    const changes = await c.diff(id);
    expect(changes).toEqual([
      { kind: 'A', path: '/added.txt' },
      { kind: 'C', path: '/etc' },
      { kind: 'D', path: '/etc/group' },
      { kind: 'C', path: '/etc/passwd' },
      { kind: 'D', path: '/home' },
      { kind: 'C', path: '/tmp' },
      { kind: 'A', path: '/tmp/made' },
      { kind: 'A', path: '/tmp/made/deep' },
    ]);
    expect(c.collected.ofType('container.diff')).toMatchObject([{ containerId: id, changes, truncated: false }]);
  });

  it('is empty for a container that wrote nothing, and sees writes of a running one', async () => {
    const c = h.containers();
    const quiet = await runToEnd(c, ['true']);
    expect(await c.diff(quiet.id)).toEqual([]);
    const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'touch /live; sleep 1000'] });
    await eventually(async () => (await c.diff(container.id)).some((x) => x.path === '/live'));
  });
});

describe('commit', () => {
  it('makes a new image whose containers see the change; history and events say what happened', async () => {
    const c = h.containers();
    const source = await runToEnd(c, ['sh', '-c', 'echo snapshot > /hello.txt && rm /etc/group']);
    const result = await c.commit(source.id, { reference: 'snap:v1', message: 'add hello', author: 'a learner' });
    expect(result.tag).toBe('snap:v1');
    expect(result.layer.changes).toEqual({ added: 1, changed: 1, deleted: 1 });
    expect(c.collected.ofType('layer.committed')).toMatchObject([
      { containerId: source.id, chainId: result.layer.chainId, diffId: result.layer.diffId, added: 1, changed: 1, deleted: 1 },
    ]);

    // A new container from the committed image has the file and not the deleted one.
    const child = await runToEnd(c, ['sh', '-c', 'cat /hello.txt; test -e /etc/group && echo group || echo no-group'], 'snap:v1');
    expect(child.out).toBe('snapshot\nno-group\n');

    const history = await h.store.history(result.imageId);
    expect(history[0]).toMatchObject({ id: result.imageId, createdBy: 'sh -c echo snapshot > /hello.txt && rm /etc/group', comment: 'add hello' });
    expect(history.length).toBe((await h.store.history('busybox')).length + 1);
    const image = await h.store.inspect(result.imageId);
    expect(image.config.author).toBe('a learner');
    // Docker commit keeps the container's command as the image's default.
    expect(image.config.config?.Cmd).toEqual(['sh', '-c', 'echo snapshot > /hello.txt && rm /etc/group']);
    expect(image.layers.at(-1)?.chainId).toBe(result.layer.chainId);
    // The source container keeps its own writable layer.
    expect(await c.diff(source.id)).toContainEqual({ kind: 'A', path: '/hello.txt' });
  });

  it('commits a running container (frozen meanwhile) and leaves it running, or paused if it was', async () => {
    const c = h.containers();
    const { container } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'echo 1 > /state; echo ready; sleep 1000'] });
    await eventually(async () => (await logsOf(c, container.id)).includes('ready'));
    const { imageId } = await c.commit(container.id, { reference: 'live' });
    expect((await c.inspect(container.id)).status).toBe('running');
    await c.pause(container.id);
    await c.commit(container.id);
    expect((await c.inspect(container.id)).status).toBe('paused');
    const check = await runToEnd(c, ['cat', '/state'], imageId);
    expect(check.out).toBe('1\n');
  });

  it('an untagged commit belongs to the session and counts as one of its images', async () => {
    const c = h.containers();
    const before = (await c.usage()).images;
    const source = await runToEnd(c, ['touch', '/x']);
    const { imageId, tag } = await c.commit(source.id);
    expect(tag).toBeNull();
    expect(await c.images.resolve(imageId.slice(7, 19))).toBe(imageId);
    expect((await c.usage()).images).toBe(before + 1);
    // Another session cannot reach it, even by id.
    await expect(h.containers({ session: 'other' }).images.resolve(imageId)).rejects.toMatchObject({ key: 'image.notFound' });
  });

  it('refuses a bad name before doing anything', async () => {
    const c = h.containers();
    const source = await runToEnd(c, ['true']);
    await expect(c.commit(source.id, { reference: 'Bad Name' })).rejects.toMatchObject({ key: 'reference.invalid' });
    expect(c.collected.ofType('layer.committed')).toEqual([]);
  });
});
