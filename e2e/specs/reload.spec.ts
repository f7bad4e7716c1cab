// Acceptance 4 (issue 12): reload in the middle of a build and in the middle of a shell
// session: the output continues without duplicates, and `echo $$` prints the same pid as before.
import { expect, test } from '@playwright/test';
import { product } from '../harness/env.js';
import { occurrences, Play } from '../harness/play.js';

test('a reload in the middle of a build: its output and layers continue, nothing twice', async ({ context }) => {
  const play = await Play.open(context, product.apps[0]!, 'en', 'reload-build');
  // A step that prints for a few seconds; a per-run marker so no earlier build's cache answers.
  const marker = `m${Date.now().toString(36)}`;
  await play.typeDockerfile(`FROM busybox\nRUN for i in 1 2 3 4 5 6; do echo ${marker}-tick$i; sleep 1; done\nCMD ["sh"]`);
  await play.tab('buildTab');
  await play.buildButton().click();
  await expect.poll(() => play.buildOutputText(), { timeout: 60_000 }).toContain(`${marker}-tick2`);
  await play.shot('building');
  await play.reload();
  await play.shot('reloaded-while-building');
  await expect(play.buildStatus()).toBeVisible({ timeout: 120_000 });
  const output = await play.buildOutputText();
  for (let i = 1; i <= 6; i++) expect(occurrences(output, `${marker}-tick${i}`), `tick${i} in:\n${output}`).toBe(1);
  expect(occurrences(output, /\[2\/3\] RUN/), output).toBe(1);
  await expect(play.layers()).toHaveCount(3);
  await play.shot('build-finished-after-reload');
});

test('a reload in the middle of a shell session: the same shell, its scrollback once, the same pid', async ({ context }) => {
  const play = await Play.open(context, product.apps[0]!, 'en', 'reload-shell');
  await play.typeDockerfile('FROM busybox\nCMD ["sh"]');
  await play.build();
  const pane = await play.run();
  // A nested shell: its pid is not 1, so a fresh container's shell could not print it by chance.
  await play.typeInTerminal(pane, 'sh\n');
  await play.typeInTerminal(pane, 'SECRET=kept-$((6*7)); echo pid=$$\n');
  const before = /pid=(\d+)/.exec(await play.waitForTerminal(pane, /pid=\d+/))![1]!;
  expect(before).not.toBe('1');
  await play.typeInTerminal(pane, 'echo before-$((1+1))-reload\n');
  await play.waitForTerminal(pane, /before-2-reload/);
  await play.shot('shell-before-reload');

  await play.reload();
  await play.tab('containersTab');
  const again = play.panes().first();
  await expect(play.terminal(again).getByRole('status')).toHaveText('Connected', { timeout: 60_000 });
  // The scrollback is back, each line once.
  const restored = await play.waitForTerminal(again, /before-2-reload/);
  expect(occurrences(restored, 'before-2-reload'), restored).toBe(1);
  expect(occurrences(restored, `pid=${before}`), restored).toBe(1);
  await play.typeInTerminal(again, 'echo pid=$$ secret=$SECRET\n');
  const after = await play.waitForTerminal(again, /pid=\d+ secret=/);
  expect(after).toContain(`pid=${before} secret=kept-42`);
  expect(occurrences(after, 'before-2-reload'), after).toBe(1);
  await play.shot('shell-after-reload');
});
