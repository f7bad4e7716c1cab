// The /play page as a learner works it, for the specs: everything is found by role and
// accessible name in the page's language (NAMES), never by CSS class. Screenshots of each state
// go to e2e/artifacts/shots/<spec>/<n>-<state>.png, to be looked at.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, type BrowserContext, type Locator, type Page } from '@playwright/test';

export type Locale = 'en' | 'ko';

/** The accessible names issue 12 promises, in each language (the components' message tables). */
export const NAMES = {
  en: {
    build: 'Build', run: 'Run', stop: 'Stop', remove: 'Remove', commit: 'Commit',
    layers: 'Layers', changes: 'Changes', images: 'Images', terminal: 'Terminal',
    buildOutput: 'Build output', containersTab: 'Containers', imagesTab: 'Images', buildTab: 'Build',
    commitTag: 'New image name', imageName: 'Image name',
    built: /^Built .+ in .+: \d+ of \d+ steps came from the cache\.$/,
    cached: 'CACHED', rebuilt: 'Built', base: 'Base image',
    connected: 'Connected', removedNote: /This container was removed/, exited: /Exited with code/,
    committed: /Committed as/, offline: /Not connected to the server/, panesList: 'Containers from this page',
    saved: 'Saved', unsaved: 'Unsaved changes',
  },
  ko: {
    build: '빌드', run: '실행', stop: '중지', remove: '삭제', commit: '커밋',
    layers: '레이어', changes: '변경 사항', images: '이미지', terminal: '터미널',
    buildOutput: '빌드 출력', containersTab: '컨테이너', imagesTab: '이미지', buildTab: '빌드',
    commitTag: '새 이미지 이름', imageName: '이미지 이름',
    built: /을\(를\) .+ 만에 빌드했어요\. \d+단계 중 \d+단계는 캐시를 썼어요\.$/,
    cached: '캐시', rebuilt: '새로 빌드', base: '베이스 이미지',
    connected: '연결됨', removedNote: /이 컨테이너는 삭제됐어요/, exited: /종료 코드 \d+로 끝났어요/,
    committed: /커밋했어요/, offline: /서버에 연결되어 있지 않아요/, panesList: '이 페이지의 컨테이너',
    saved: '저장됨', unsaved: '저장 안 된 변경',
  },
} as const;

const SHOTS = join(import.meta.dirname, '..', 'artifacts', 'shots');

export class Play {
  readonly n: (typeof NAMES)[Locale];
  private shots = 0;

  constructor(
    readonly page: Page,
    readonly locale: Locale,
    private readonly shotDir: string,
  ) {
    this.n = NAMES[locale];
  }

  /** A new tab on /play in `locale` (the language cookie the switch sets, and the browser's own). */
  static async open(context: BrowserContext, baseUrl: string, locale: Locale, spec: string, beforeLoad?: (page: Page) => Promise<void>): Promise<Play> {
    await context.addCookies([{ name: 'layercake-locale', value: locale, url: baseUrl }]);
    const page = await context.newPage();
    await beforeLoad?.(page);
    page.on('pageerror', (err) => console.log(`[${spec}] page error: ${err.message}`));
    const play = new Play(page, locale, join(SHOTS, spec));
    await play.goto(baseUrl);
    return play;
  }

  async goto(baseUrl: string): Promise<void> {
    await this.page.goto(new URL('/play', baseUrl).href);
    await this.ready();
  }

  /** The editor takes typing and the Build button is enabled (socket connected, page hydrated). */
  async ready(): Promise<void> {
    await expect(this.editorInput()).toBeAttached({ timeout: 60_000 });
    // A reloaded page comes back on the tab it was left on; Build lives on the Build tab.
    await this.tab('buildTab');
    await expect(this.buildButton()).toBeEnabled({ timeout: 60_000 });
  }

  async reload(): Promise<void> {
    await this.page.reload();
    await this.ready();
  }

  async shot(state: string): Promise<void> {
    mkdirSync(this.shotDir, { recursive: true });
    this.shots += 1;
    await this.page.screenshot({ path: join(this.shotDir, `${String(this.shots).padStart(2, '0')}-${state}.png`) });
  }

  // --- editor ---------------------------------------------------------------------------------

  editorArea(): Locator {
    // The section labelled by the open file's heading ("Editor: Dockerfile").
    return this.page.getByRole('region', { name: this.locale === 'ko' ? /편집기/ : /Editor/ });
  }

  /** The open file's save badge (Saved / Unsaved changes / Saving…), in the editor's bar. */
  saveStatus(): Locator {
    return this.editorArea().getByRole('status');
  }

  editorInput(): Locator {
    return this.editorArea().getByRole('textbox').first();
  }

  /** What the editor holds (Monaco's own model: the text on screen is virtualised). */
  editorText(): Promise<string> {
    return this.page.evaluate(() => (window as unknown as { monaco: { editor: { getEditors(): { getValue(): string }[] } } }).monaco.editor.getEditors()[0]!.getValue());
  }

  /** Replaces the open file's text by typing it, as a learner does (completions dismissed before each Enter). */
  async typeDockerfile(text: string): Promise<void> {
    await this.editorInput().focus();
    await this.page.keyboard.press('ControlOrMeta+A');
    await this.page.keyboard.press('Delete');
    const lines = text.replace(/\n$/, '').split('\n');
    for (const [i, line] of lines.entries()) {
      await this.page.keyboard.type(line, { delay: 5 });
      await this.page.keyboard.press('Escape');
      if (i < lines.length - 1) await this.page.keyboard.press('Enter');
    }
    // Monaco closes brackets and quotes as they are typed and types over them: what is there
    // must be exactly what was typed.
    await expect.poll(() => this.editorText()).toBe(lines.join('\n'));
  }

  /** Changes line `line` (1-based) to `text`, by keyboard. */
  async replaceLine(line: number, text: string): Promise<void> {
    await this.editorInput().focus();
    await this.page.keyboard.press('ControlOrMeta+Home');
    for (let i = 1; i < line; i++) await this.page.keyboard.press('ArrowDown');
    await this.page.keyboard.press('Home');
    await this.page.keyboard.press('Shift+End');
    await this.page.keyboard.type(text, { delay: 5 });
    await this.page.keyboard.press('Escape');
  }

  // --- build ----------------------------------------------------------------------------------

  buildButton(): Locator {
    return this.page.getByRole('button', { name: this.n.build, exact: true });
  }

  buildStatus(): Locator {
    return this.page.getByRole('status').filter({ hasText: this.n.built });
  }

  layers(): Locator {
    return this.page.getByRole('list', { name: this.n.layers, exact: true }).getByRole('listitem');
  }

  /** The build output, scrollback included: its rows on screen are only the last few. */
  buildOutputText(): Promise<string> {
    return xtermText(this.page.getByRole('region', { name: this.n.buildOutput }));
  }

  async tab(name: 'buildTab' | 'containersTab' | 'imagesTab'): Promise<void> {
    await this.page.getByRole('tab', { name: this.n[name], exact: true }).click();
  }

  /** Presses Build and waits for "Built … N of M steps came from the cache". */
  async build(): Promise<void> {
    await this.tab('buildTab');
    await expect(this.buildButton()).toBeEnabled();
    // A cached rebuild can leave "Built …" and come back between two polls: the status line is
    // watched for leaving the last build's "Built …" instead.
    const last = this.buildStatus();
    const hadOne = (await last.count()) > 0;
    if (hadOne) {
      await last.evaluate((el, source) => {
        const built = new RegExp(source);
        const w = window as unknown as { leftBuilt: boolean };
        w.leftBuilt = false;
        new MutationObserver((_, observer) => {
          if (built.test(el.textContent ?? '')) return;
          w.leftBuilt = true;
          observer.disconnect();
        }).observe(el, { childList: true, subtree: true, characterData: true });
      }, this.n.built.source);
    }
    await this.buildButton().click();
    if (hadOne) await this.page.waitForFunction(() => (window as unknown as { leftBuilt: boolean }).leftBuilt, undefined, { timeout: 60_000 });
    await expect(this.buildStatus()).toBeVisible({ timeout: 120_000 }).catch(async (err: Error) => {
      // What the page showed instead, for a failure read in CI's output alone.
      err.message += `\n${await this.buildDiagnosis()}`;
      throw err;
    });
  }

  private async buildDiagnosis(): Promise<string> {
    const statuses = await this.page.getByRole('status').allInnerTexts().catch(() => []);
    const output = await this.buildOutputText().catch(() => '');
    return `the page's status lines: ${JSON.stringify(statuses)}\nthe build output's last lines: ${JSON.stringify(output.split('\n').slice(-8))}`;
  }

  /** Each layer row's badge text (Base image / CACHED / Built), in Dockerfile order. */
  async badges(): Promise<string[]> {
    const rows = await this.layers().all();
    const badges: string[] = [];
    for (const row of rows) {
      const text = (await row.innerText()).trim();
      badges.push([this.n.base, this.n.cached, this.n.rebuilt].find((b) => text.startsWith(b)) ?? `? ${text.slice(0, 40)}`);
    }
    return badges;
  }

  // --- containers -----------------------------------------------------------------------------

  runButton(): Locator {
    return this.page.getByRole('button', { name: this.n.run, exact: true });
  }

  /** The container panes on screen: all of them side by side, or the chosen one when they are tabs. */
  panes(): Locator {
    return this.page.getByRole('region', { name: this.locale === 'ko' ? /^컨테이너 / : /^Container / });
  }

  /** The tabs that choose a pane when two do not fit side by side (1280×720: they do not). */
  paneTabs(): Locator {
    return this.page.getByRole('tablist', { name: this.n.panesList }).getByRole('tab');
  }

  /** How many containers this page shows, whether side by side or as tabs. */
  async containerCount(): Promise<number> {
    return Math.max(await this.panes().count(), await this.paneTabs().count());
  }

  /** The pane of the `index`th container started on this page (choosing its tab if there are tabs). */
  async pane(index: number): Promise<Locator> {
    if ((await this.paneTabs().count()) > 0) {
      await this.paneTabs().nth(index).click();
      await expect(this.paneTabs().nth(index)).toHaveAttribute('aria-selected', 'true');
      return this.panes().first();
    }
    return this.panes().nth(index);
  }

  /** Presses Run and waits for the new pane's terminal to say it is connected. */
  async run(): Promise<Locator> {
    await this.tab('containersTab');
    const count = await this.containerCount();
    await this.runButton().click();
    await expect.poll(() => this.containerCount(), { timeout: 60_000 }).toBe(count + 1);
    const pane = await this.pane(count);
    await expect(this.terminal(pane).getByRole('status')).toHaveText(this.n.connected, { timeout: 60_000 });
    return pane;
  }

  terminal(pane: Locator): Locator {
    return pane.getByRole('region', { name: this.n.terminal, exact: true });
  }

  /** Types into a pane's terminal (clicking it first, as a learner does). */
  async typeInTerminal(pane: Locator, text: string): Promise<void> {
    await this.terminal(pane).getByRole('textbox').focus();
    await this.page.keyboard.type(text, { delay: 10 });
  }

  /** The terminal's text, scrollback included (xtermText). */
  terminalText(pane: Locator): Promise<string> {
    return xtermText(this.terminal(pane));
  }

  /** Waits until the terminal's screen matches `pattern`, and returns the screen. */
  async waitForTerminal(pane: Locator, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    let text = '';
    await expect
      .poll(async () => {
        text = await this.terminalText(pane);
        return pattern.test(text);
      }, { timeout: timeoutMs, message: `terminal to show ${pattern}` })
      .toBe(true);
    return text;
  }

  changes(pane: Locator): Locator {
    return pane.getByRole('list', { name: this.n.changes, exact: true });
  }

  /** One row of a pane's Changes, as it reads: "added: /x" (the row's letter badge is aria-hidden). */
  change(pane: Locator, kind: 'added' | 'changed' | 'deleted', path: string): Locator {
    const word = this.locale === 'ko' ? { added: '추가', changed: '변경', deleted: '삭제' }[kind] : kind;
    return this.changes(pane).getByRole('listitem').filter({ hasText: new RegExp(`${word}: ${escapeRegExp(path)}$`) });
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** How many times `needle` occurs in `haystack`. */
export function occurrences(haystack: string, needle: string | RegExp): number {
  const re = typeof needle === 'string' ? new RegExp(escapeRegExp(needle), 'g') : new RegExp(needle.source, 'g');
  return haystack.match(re)?.length ?? 0;
}

// --- how it looks (layout, fonts, contrast), measured in the page ----------------------------

/**
 * How wide a Hangul syllable is in the pane's terminal, in cells: xterm gives it two cells, and
 * a font whose Hangul is narrower than two Latin cells leaves a gap after each ("안 녕"). 1 fits.
 */
export function hangulCellFit(terminal: Locator): Promise<number> {
  return terminal.evaluate((region) => {
    type Xterm = { options: { fontFamily?: string; fontSize?: number } };
    const host = [region, ...region.querySelectorAll('div')].find((d) => 'xterm' in d) as (HTMLDivElement & { xterm: Xterm }) | undefined;
    if (!host) throw new Error('the terminal widget does not expose its xterm (TerminalXterm.tsx)');
    const ctx = document.createElement('canvas').getContext('2d')!;
    ctx.font = `${host.xterm.options.fontSize ?? 15}px ${host.xterm.options.fontFamily ?? 'monospace'}`;
    return ctx.measureText('안녕한글').width / 4 / (2 * ctx.measureText('W').width);
  });
}

/**
 * How tall a Hangul syllable is against the terminal's row. A syllable scaled to two cells is
 * taller than a Latin row: at 1 or more it reaches into the row above, where that row's text
 * covers its top ("빌드" read as "밀드"). The row: xterm's screen height over its rows.
 */
export function hangulRowFit(terminal: Locator): Promise<number> {
  return terminal.evaluate((region) => {
    type Xterm = { rows: number; element?: HTMLElement; options: { fontFamily?: string; fontSize?: number } };
    const host = [region, ...region.querySelectorAll('div')].find((d) => 'xterm' in d) as (HTMLDivElement & { xterm: Xterm }) | undefined;
    if (!host) throw new Error('the terminal widget does not expose its xterm (TerminalXterm.tsx)');
    // xterm's own drawing surface: the one place its row height shows (no role names it).
    const screen = host.xterm.element!.querySelector('.xterm-screen')!;
    const row = screen.getBoundingClientRect().height / host.xterm.rows;
    const ctx = document.createElement('canvas').getContext('2d')!;
    ctx.font = `${host.xterm.options.fontSize ?? 15}px ${host.xterm.options.fontFamily ?? 'monospace'}`;
    const glyph = ctx.measureText('빌드완료흙');
    return (glyph.actualBoundingBoxAscent + glyph.actualBoundingBoxDescent) / row;
  });
}

/**
 * Text on the page (outside the editor and the terminals, which draw their own) whose contrast
 * with the background behind it is below WCAG AA: 4.5:1, or 3:1 for large text (24 px, or
 * 18.66 px bold). Disabled controls are exempt, as WCAG exempts them. Each entry says what and how much.
 */
export function lowContrast(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const parse = (c: string): [number, number, number, number] => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return [0, 0, 0, 0];
      const [r, g, b, a] = m[1]!.split(/[ ,/]+/).filter(Boolean).map(Number);
      return [r!, g!, b!, a ?? 1];
    };
    const lum = ([r, g, b]: number[]) => {
      const f = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r!) + 0.7152 * f(g!) + 0.0722 * f(b!);
    };
    const over = (top: number[], below: number[]) => top.slice(0, 3).map((v, i) => v * top[3]! + below[i]! * (1 - top[3]!));
    /** The colour behind an element: its ancestors' backgrounds composed from the page's down. */
    const backdrop = (el: Element): number[] => {
      const chain: Element[] = [];
      for (let e: Element | null = el; e; e = e.parentElement) chain.unshift(e);
      let color = [255, 255, 255];
      for (const e of chain) {
        const bg = parse(getComputedStyle(e).backgroundColor);
        if (bg[3] > 0) color = over(bg, color);
      }
      return color;
    };
    const found: string[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const seen = new Set<Element>();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!el || seen.has(el) || !node.textContent?.trim()) continue;
      seen.add(el);
      if (el.closest('.monaco-editor, .xterm, [aria-hidden="true"], .visually-hidden, :disabled, [aria-disabled="true"]')) continue;
      const rect = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      if (rect.width === 0 || rect.height === 0 || style.visibility === 'hidden' || Number(style.opacity) === 0) continue;
      const back = backdrop(el);
      const fg = over(parse(style.color), back);
      const [hi, lo] = [lum(fg), lum(back)].sort((a, b) => b - a);
      const ratio = (hi! + 0.05) / (lo! + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) found.push(`${ratio.toFixed(2)}:1 "${node.textContent.trim().slice(0, 40)}" (${style.color} on rgb(${back.map(Math.round).join(', ')}))`);
    }
    return found;
  });
}

/** Whether the page scrolls sideways (nothing should at 1280 px or at tablet width). */
export function overflowsSideways(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
}

/**
 * A terminal widget's text, scrollback included: xterm's buffer, which the widget hangs on its
 * host element (no role reaches it; the DOM holds only the rows on screen); wrapped rows are
 * joined back into their line.
 */
function xtermText(region: Locator): Promise<string> {
  return region.evaluate((el) => {
    type Line = { isWrapped: boolean; translateToString(trim: boolean): string };
    type Xterm = { buffer: { active: { length: number; getLine(i: number): Line | undefined } } };
    const host = [el, ...el.querySelectorAll('div')].find((d) => 'xterm' in d) as (HTMLDivElement & { xterm: Xterm }) | undefined;
    if (!host) throw new Error('the terminal widget does not expose its xterm (TerminalXterm.tsx, BuildXterm.tsx)');
    const buffer = host.xterm.buffer.active;
    let text = '';
    for (let i = 0; i < buffer.length; i++) {
      const line = buffer.getLine(i);
      if (!line) continue;
      text += (line.isWrapped || i === 0 ? '' : '\n') + line.translateToString(true);
    }
    return text.replace(/\n+$/, '');
  });
}

