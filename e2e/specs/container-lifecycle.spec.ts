// Acceptance 5 (issue 12): commit a container (the new image appears in Images, its writable
// layer the new top layer), stop it, remove it.
import { expect, test } from '@playwright/test';
import { product } from '../harness/env.js';
import { Play } from '../harness/play.js';

test('commit, stop and remove a container', async ({ context }) => {
  const play = await Play.open(context, product.apps[0]!, 'en', 'lifecycle');
  await play.typeDockerfile('FROM busybox\nRUN echo base > /base.txt\nCMD ["sh"]');
  await play.build();
  const pane = await play.run();
  await play.typeInTerminal(pane, 'echo saved > /saved.txt\n');
  await expect(play.change(pane, 'added', '/saved.txt')).toBeVisible({ timeout: 15_000 });

  // Commit: a new image whose top layer is this container's writable layer.
  await pane.getByLabel('New image name').fill('snapshot:v1');
  await pane.getByRole('button', { name: 'Commit', exact: true }).click();
  await expect(pane.getByRole('status').filter({ hasText: /Committed as snapshot:v1/ })).toBeVisible({ timeout: 30_000 });
  // The commit froze the container while it copied; the header still counts its time after.
  await play.page.waitForTimeout(1500);
  await expect(play.page.getByRole('timer')).toHaveText(/^Time left \d+:\d\d$/);
  await expect(play.page.getByRole('status').filter({ hasText: 'No containers running' })).toHaveCount(0);
  await play.shot('committed');
  await play.tab('imagesTab');
  const images = play.page.getByRole('list', { name: 'Images', exact: true });
  const snapshot = images.getByRole('listitem').filter({ hasText: 'snapshot:v1' });
  await expect(snapshot).toBeVisible();
  // One layer more than the image it came from (busybox's, the RUN's, and the container's).
  await expect(snapshot).toContainText('layers: 3');
  await snapshot.getByRole('button', { name: 'History' }).click();
  await expect(snapshot.getByRole('table')).toBeVisible();
  await play.shot('images-with-commit');

  // Stop: it exits, the terminal says so, and Stop is no longer offered.
  await play.tab('containersTab');
  await pane.getByRole('button', { name: 'Stop', exact: true }).click();
  await expect(pane.getByRole('status').filter({ hasText: /Exited with code/ })).toBeVisible({ timeout: 30_000 });
  await expect(pane.getByRole('button', { name: 'Stop', exact: true })).toBeDisabled();
  await play.shot('stopped');

  // Remove: the container and its writable layer are gone; the committed image is not.
  await pane.getByRole('button', { name: 'Remove', exact: true }).click();
  await expect(pane.getByRole('status').filter({ hasText: /This container was removed/ })).toBeVisible({ timeout: 30_000 });
  await play.shot('removed');
  await play.tab('imagesTab');
  await expect(snapshot).toBeVisible();
});
