// Acceptance 1 and 2 (issue 12): type a Dockerfile, build it, watch the layer stack appear;
// rebuild and see CACHED on every step; change one line and see it and every step after it rebuilt.
import { expect, test } from '@playwright/test';
import { product } from '../harness/env.js';
import { Play } from '../harness/play.js';

const DOCKERFILE = ['FROM busybox', 'WORKDIR /app', 'RUN echo one > one.txt', 'RUN echo two > two.txt', 'ENV STAGE=test', 'CMD ["sh"]'].join('\n');

test('a typed Dockerfile builds, its layer stack appears, a rebuild is all CACHED and a changed line rebuilds from there', async ({ context }) => {
  const play = await Play.open(context, product.apps[0]!, 'en', 'build');
  await play.shot('opened');
  await play.typeDockerfile(DOCKERFILE);
  await play.shot('typed');

  // 1. The first build: a row per step, in order, with its instruction and line.
  await play.build();
  await expect(play.layers()).toHaveCount(6);
  const rows = play.layers();
  await expect(rows.nth(0)).toContainText('FROM busybox');
  await expect(rows.nth(0)).toContainText('line 1');
  await expect(rows.nth(2)).toContainText('RUN echo one > one.txt');
  await expect(rows.nth(2)).toContainText('line 3');
  await expect(rows.nth(5)).toContainText('CMD ["sh"]');
  expect(await play.badges()).toEqual(['Base image', 'Built', 'Built', 'Built', 'Built', 'Built']);
  // Why each was built: nothing was cached yet (a first build), not "an earlier step changed".
  for (let i = 1; i < 6; i++) {
    await expect(rows.nth(i)).toContainText('First time: no earlier build ran this step');
    await expect(rows.nth(i)).not.toContainText('earlier step');
  }
  // A RUN step wrote a file: its row says so (size and +1 added).
  await expect(rows.nth(2)).toContainText(/Size \d/);
  await expect(rows.nth(2).getByLabel(/^1 added, \d+ changed, 0 deleted$/)).toBeVisible();
  await play.shot('built');

  // Clicking a layer lists its files.
  await rows.nth(2).getByRole('button', { name: 'Show the files of step 3' }).click();
  await expect(rows.nth(2).getByRole('list', { name: 'Files of this layer' })).toContainText('app/one.txt');
  await play.shot('layer-files');

  // 2. The same Dockerfile again: every step from the cache, with the reason in words.
  await play.build();
  expect(await play.badges()).toEqual(['Base image', 'CACHED', 'CACHED', 'CACHED', 'CACHED', 'CACHED']);
  await expect(play.buildStatus()).toContainText('5 of 6 steps came from the cache');
  await play.shot('rebuilt-cached');

  // One line changed: the steps before it come from the cache, it and every one after it are rebuilt.
  await play.replaceLine(4, 'RUN echo three > two.txt');
  await play.build();
  expect(await play.badges()).toEqual(['Base image', 'CACHED', 'CACHED', 'Built', 'Built', 'Built']);
  await expect(rows.nth(3)).toContainText('RUN echo three > two.txt');
  await expect(rows.nth(3)).toContainText('The instruction changed (before: RUN echo two > two.txt)');
  await expect(rows.nth(4)).toContainText('An earlier step (step 4) changed');
  await play.shot('changed-line-rebuilt');
});
