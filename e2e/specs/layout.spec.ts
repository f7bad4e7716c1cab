// How the playground looks (issue 12, "Language and access"): at 1280×720 in English and at
// tablet width (768×1024) in Korean, nothing scrolls sideways, every text passes WCAG AA
// contrast, a container pane's header stays on one line with Stop and Remove inside the pane,
// the commit field shows its whole placeholder, and an image a container uses is not removed,
// with words that say what to do here. Screenshots of each tab at each size.
import { expect, test, type Locator } from '@playwright/test';
import { product } from '../harness/env.js';
import { lowContrast, overflowsSideways, Play, type Locale } from '../harness/play.js';

const SIZES: { name: string; locale: Locale; viewport: { width: number; height: number } }[] = [
  { name: 'desktop-en', locale: 'en', viewport: { width: 1280, height: 720 } },
  { name: 'tablet-ko', locale: 'ko', viewport: { width: 768, height: 1024 } },
];

/** The vertical middle and the right edge of an element, in page pixels. */
async function box(locator: Locator): Promise<{ middle: number; right: number; left: number }> {
  const b = (await locator.boundingBox())!;
  return { middle: b.y + b.height / 2, right: b.x + b.width, left: b.x };
}

for (const size of SIZES) {
  test.describe(size.name, () => {
    test.use({ viewport: size.viewport, locale: size.locale === 'ko' ? 'ko-KR' : 'en-US' });

    test(`${size.name}: one-line pane header, whole placeholder, AA contrast, no sideways scroll, an image in use stays`, async ({ context }) => {
      const play = await Play.open(context, product.apps[0]!, size.locale, `layout-${size.name}`);
      const ko = size.locale === 'ko';
      await play.typeDockerfile('FROM busybox\nRUN echo layout > /layout.txt\nCMD ["sh"]');
      await play.build();
      expect(await overflowsSideways(play.page)).toBe(false);
      expect(await lowContrast(play.page)).toEqual([]);
      await play.shot('build-tab');

      const pane = await play.run();
      await play.typeInTerminal(pane, 'echo hi > /x\n');
      await expect(play.change(pane, 'added', '/x')).toBeVisible({ timeout: 15_000 });

      // The header: name, state, image, then Stop and Remove, on one line and inside the pane.
      const title = pane.getByRole('heading', { level: 3 });
      const stop = pane.getByRole('button', { name: play.n.stop, exact: true });
      const remove = pane.getByRole('button', { name: play.n.remove, exact: true });
      const [t, s, r, p] = await Promise.all([box(title), box(stop), box(remove), box(pane)]);
      expect(Math.abs(s.middle - t.middle)).toBeLessThan(4);
      expect(Math.abs(r.middle - t.middle)).toBeLessThan(4);
      expect(r.right).toBeLessThanOrEqual(p.right);
      expect(s.right).toBeLessThanOrEqual(r.left);

      // The commit field shows its whole placeholder (the container's name and ":v1").
      const field = pane.getByLabel(play.n.commitTag);
      const fits = await field.evaluate((input: HTMLInputElement) => {
        const style = getComputedStyle(input);
        const ctx = document.createElement('canvas').getContext('2d')!;
        ctx.font = `${style.fontSize} ${style.fontFamily}`;
        const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        return { text: input.placeholder, width: ctx.measureText(input.placeholder).width, room };
      });
      expect(fits.text).toMatch(/^[a-z]+_[a-z]+:v1$/);
      expect(fits.width).toBeLessThanOrEqual(fits.room);

      expect(await overflowsSideways(play.page)).toBe(false);
      expect(await lowContrast(play.page)).toEqual([]);
      await play.shot('containers-tab');

      // An image a container uses: Remove is refused, as Docker refuses it, in words for this page.
      await play.tab('imagesTab');
      const images = play.page.getByRole('list', { name: play.n.images, exact: true });
      const app = images.getByRole('listitem').filter({ hasText: 'app:latest' });
      await expect(app).toContainText(ko ? '컨테이너 1개가 사용 중' : 'containers using it: 1');
      await app.getByRole('button', { name: ko ? '이미지 app:latest 삭제' : 'Remove image app:latest' }).click();
      await expect(app.getByRole('alert')).toContainText(ko ? /삭제하지 않았어요\. app:latest을\(를\) 컨테이너 [a-z_]+이\(가\) 쓰고 있어요/ : /Not removed: app:latest is in use \(container [a-z_]+\)/);
      await expect(app.getByRole('alert')).not.toContainText('--force');
      await expect(app).toBeVisible();
      await app.getByRole('button', { name: ko ? '히스토리' : 'History' }).click();
      await expect(app.getByRole('table')).toBeVisible();
      expect(await overflowsSideways(play.page)).toBe(false);
      expect(await lowContrast(play.page)).toEqual([]);
      await play.shot('images-tab');
    });
  });
}
