// A Dockerfile mistake the engine finds after the build started (build.started goes out before the
// Dockerfile is read) shows as a failing step's error does: the status names the line, the alert
// says what is wrong, and its button takes the learner there. A failing RUN is the comparison.
import { expect, test } from '@playwright/test';
import { product } from '../harness/env.js';
import { Play } from '../harness/play.js';

test('a mistake in the Dockerfile and a failing step both stop the build at their line, with the error and a way to it', async ({ context }) => {
  const play = await Play.open(context, product.apps[0]!, 'en', 'build-errors');
  // The build panel's alert (Monaco and Next keep empty ones of their own).
  const alert = play.page.getByRole('alert').filter({ hasText: /^Line \d+: / });

  await play.typeDockerfile('FROM busybox\nRUNN echo hi');
  await play.buildButton().click();
  await expect(play.page.getByRole('status').filter({ hasText: 'The build stopped at line 2.' })).toBeVisible({ timeout: 60_000 });
  await expect(alert).toContainText('Line 2: RUNN is not a Dockerfile instruction. Did you mean RUN?');
  await expect(alert.getByRole('button', { name: 'Show line 2 in the editor' })).toBeVisible();
  await play.shot('syntax-error');

  await play.typeDockerfile('FROM busybox\nRUN false');
  await play.buildButton().click();
  await expect(alert).toContainText('Line 2: the command exited with code 1: false', { timeout: 60_000 });
  await expect(play.page.getByRole('status').filter({ hasText: 'The build stopped at line 2.' })).toBeVisible();
  await expect(alert.getByRole('button', { name: 'Show line 2 in the editor' })).toBeVisible();
  await play.shot('step-error');
});
