// Acceptance 3 (issue 12): run a container, type `echo hi > /x; ls /` in its terminal, see /x
// appear in Changes; a second container from the same image does not have it.
import { expect, test } from '@playwright/test';
import { product } from '../harness/env.js';
import { Play } from '../harness/play.js';

test('a file made in one container shows in its Changes, and a second container does not have it', async ({ context }) => {
  const play = await Play.open(context, product.apps[0]!, 'en', 'run');
  await play.typeDockerfile('FROM busybox\nCMD ["sh"]');
  await play.build();

  const first = await play.run();
  await expect(play.changes(first)).toHaveCount(0); // "No changes yet" until something is written
  await play.shot('first-container');
  await play.typeInTerminal(first, 'echo hi > /x; ls /\n');
  // After the command's own line, ls lists the root's entries (several per line), x among them.
  await play.waitForTerminal(first, /echo hi > \/x; ls \/\n[\s\S]*(^|[ \t])x([ \t]|$)/m);
  await expect(play.change(first, 'added', '/x')).toBeVisible({ timeout: 15_000 });
  // The writable layer's real size, following the diff: "hi\n" is 3 bytes; appending to the
  // same file changes no count, only the size ("more\n" makes it 8).
  const filesystem = first.getByRole('list', { name: 'Container filesystem' });
  await expect(filesystem.getByRole('listitem').first()).toContainText(/Changes: 1 · 3\sB/, { timeout: 15_000 });
  await play.typeInTerminal(first, 'echo more >> /x; cat /x\n');
  await play.waitForTerminal(first, /cat \/x\s+hi\s+more/);
  await expect(filesystem.getByRole('listitem').first()).toContainText(/Changes: 1 · 8\sB/, { timeout: 15_000 });
  await play.shot('first-has-x');

  // A second container from the same image, beside the first: its writable layer is its own.
  const second = await play.run();
  expect(await play.containerCount()).toBe(2);
  await play.typeInTerminal(second, 'ls /x; echo status=$?\n');
  await play.waitForTerminal(second, /No such file or directory[\s\S]*status=1/);
  await play.typeInTerminal(second, 'touch /only-here\n');
  await expect(play.change(second, 'added', '/only-here')).toBeVisible({ timeout: 15_000 });
  await expect(play.change(second, 'added', '/x')).toHaveCount(0);
  await play.shot('second-container');
  // …and the first container still has only its own.
  const firstAgain = await play.pane(0);
  await expect(play.change(firstAgain, 'added', '/x')).toBeVisible({ timeout: 15_000 });
  await expect(play.change(firstAgain, 'added', '/only-here')).toHaveCount(0);
  await play.shot('first-container-again');
});
