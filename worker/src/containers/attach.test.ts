// Attaching to a container's terminal: input reaches it, resizes reach `stty size`, detaching
// leaves it running, and its exit arrives as an event.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { ContainerAttachment } from './attachment.js';
import { createHarness, eventually, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('attach');
});
afterEach(async () => {
  await h.clean();
});
afterAll(async () => {
  await h?.close();
});

function transcript(a: ContainerAttachment): { text: () => string; exit: Promise<number> } {
  let text = '';
  a.on('output', (_stream, data) => (text += data.toString()));
  const exit = new Promise<number>((resolve) => a.on('exit', resolve));
  return { text: () => text, exit };
}

it('a terminal started at the client’s size follows its resizes', async () => {
  const c = h.containers();
  const { container, attachment } = await c.run(
    { image: 'busybox', cmd: ['sh'], tty: true, openStdin: true, env: ['PS1=$ '] },
    { attach: true, consoleSize: { rows: 20, cols: 70 } },
  );
  const t = transcript(attachment!);
  attachment!.write('tty; stty size\n');
  await eventually(() => t.text().includes('20 70'));
  expect(t.text()).toContain('/dev/pts/0');
  attachment!.resize(33, 101);
  attachment!.write('stty size\n');
  await eventually(() => t.text().includes('33 101'));
  attachment!.write('exit 5\n');
  expect(await t.exit).toBe(5);
  expect((await c.wait(container.id)).exitCode).toBe(5);
});

it('detaching leaves the container running; attaching again sees new output; a stopped one cannot be attached', async () => {
  const c = h.containers();
  const { container, attachment } = await c.run({ image: 'busybox', cmd: ['sh'], tty: true, openStdin: true, env: ['PS1=$ '] }, { attach: true });
  const first = transcript(attachment!);
  attachment!.write('echo first\n');
  await eventually(() => first.text().includes('first\r\n'));
  attachment!.detach();
  expect((await c.inspect(container.id)).status).toBe('running');

  const again = await c.attach(container.id);
  const second = transcript(again);
  again.write('echo second; exit 0\n');
  expect(await second.exit).toBe(0);
  expect(second.text()).toContain('second');
  expect(second.text()).not.toContain('first\r\n');
  await expect(c.attach(container.id)).rejects.toMatchObject({ key: 'container.attachStopped' });
});

it('without a terminal, stdout and stderr arrive apart', async () => {
  const c = h.containers();
  const { attachment } = await c.run({ image: 'busybox', cmd: ['sh', '-c', 'echo out; echo err >&2'] }, { attach: true });
  const seen: string[] = [];
  attachment!.on('output', (stream, data) => seen.push(`${stream}:${data.toString()}`));
  await new Promise<number>((resolve) => attachment!.on('exit', resolve));
  expect(seen.sort()).toEqual(['stderr:err\n', 'stdout:out\n']);
});
