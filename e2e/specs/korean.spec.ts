// Korean (issue 12, "Language and access"): the whole learner path with every control found by
// its Korean name; Korean is the first paint for a browser that prefers it; the switch persists.
import { expect, test } from '@playwright/test';
import { product } from '../harness/env.js';
import { hangulCellFit, hangulRowFit, Play } from '../harness/play.js';

test.use({ locale: 'ko-KR' });

test('빌드, 실행, 커밋, 중지, 삭제: every control and view named in Korean', async ({ context }) => {
  const play = await Play.open(context, product.apps[0]!, 'ko', 'korean');
  expect(await play.page.evaluate(() => document.documentElement.lang)).toBe('ko');
  await play.typeDockerfile('FROM busybox\nRUN echo 안녕 > /hello.txt\nCMD ["sh"]');
  await play.build();
  await expect(play.layers()).toHaveCount(3);
  expect(await play.badges()).toEqual(['베이스 이미지', '새로 빌드', '새로 빌드']);
  await expect(play.buildStatus()).toBeVisible();
  const buildOutput = play.page.getByRole('region', { name: play.n.buildOutput });
  expect(Math.abs((await hangulCellFit(buildOutput)) - 1)).toBeLessThan(0.05);
  expect(await hangulRowFit(buildOutput)).toBeLessThan(0.97);
  await play.shot('built');

  const pane = await play.run();
  await play.typeInTerminal(pane, 'cat /hello.txt; echo 한글 > /k.txt\n');
  await play.waitForTerminal(pane, /안녕/);
  // Hangul fills its two cells: no gap after each syllable ("안 녕"), whatever the Latin font.
  expect(Math.abs((await hangulCellFit(play.terminal(pane))) - 1)).toBeLessThan(0.05);
  // …and fits its row, here and in the build output ("빌드 완료" whole, not cut at the top).
  expect(await hangulRowFit(play.terminal(pane))).toBeLessThan(0.97);
  await expect(play.change(pane, 'added', '/k.txt')).toBeVisible({ timeout: 15_000 });
  await play.shot('terminal-korean');

  await pane.getByLabel('새 이미지 이름').fill('kimchi');
  await pane.getByRole('button', { name: '커밋', exact: true }).click();
  await expect(pane.getByRole('status').filter({ hasText: /커밋했어요/ })).toBeVisible({ timeout: 30_000 });
  await play.tab('imagesTab');
  await expect(play.page.getByRole('list', { name: '이미지', exact: true }).getByRole('listitem').filter({ hasText: 'kimchi' })).toBeVisible();
  await play.shot('images');

  await play.tab('containersTab');
  await pane.getByRole('button', { name: '중지', exact: true }).click();
  await expect(pane.getByRole('status').filter({ hasText: /종료 코드 \d+로 끝났어요/ })).toBeVisible({ timeout: 30_000 });
  await pane.getByRole('button', { name: '삭제', exact: true }).click();
  await expect(pane.getByRole('status').filter({ hasText: /이 컨테이너는 삭제됐어요/ })).toBeVisible({ timeout: 30_000 });
  await play.shot('removed');
});

test('a browser preferring Korean gets Korean without a cookie, and the language switch persists', async ({ browser }) => {
  const context = await browser.newContext({ locale: 'ko-KR', extraHTTPHeaders: { 'accept-language': 'ko-KR,ko;q=0.9,en;q=0.5' } });
  const page = await context.newPage();
  await page.goto(new URL('/play', product.apps[0]!).href);
  expect(await page.evaluate(() => document.documentElement.lang)).toBe('ko');
  await expect(page.getByRole('button', { name: '빌드', exact: true })).toBeVisible({ timeout: 60_000 });

  await page.getByRole('group', { name: '언어' }).getByRole('button', { name: 'English' }).click();
  await expect(page.getByRole('button', { name: 'Build', exact: true })).toBeVisible();
  await page.reload();
  await expect(page.getByRole('button', { name: 'Build', exact: true })).toBeVisible({ timeout: 60_000 });
  expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
  await context.close();
});
