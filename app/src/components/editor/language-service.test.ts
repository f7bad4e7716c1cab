// The Dockerfile language service as the editor uses it, without a browser: Monaco's shapes
// (1-based lines, its severities) come out of the LSP ones, on real Dockerfiles.
import { describe, expect, it } from 'vitest';
import { hoverContents, languageService, lint } from './language-service';
import { isDockerfilePath } from './paths';

describe('Dockerfile diagnostics', () => {
  it('mark a misspelt instruction at its line and columns, as an error', () => {
    const markers = lint('FROM busybox\nRUNN echo hi\n');
    const bad = markers.find((m) => m.startLineNumber === 2);
    expect(bad, JSON.stringify(markers)).toBeDefined();
    expect(bad).toMatchObject({ startLineNumber: 2, startColumn: 1, endLineNumber: 2, endColumn: 5, severity: 8 });
  });
  it('leave a correct Dockerfile unmarked', () => {
    expect(lint('FROM busybox\nWORKDIR /app\nCOPY hello.txt .\nCMD ["cat", "hello.txt"]\n')).toEqual([]);
  });
  it('speak Korean to a Korean reader, keeping the facts (the misspelt word)', () => {
    const [ko] = lint('FROM busybox\nRUNN echo hi\n', 'ko');
    expect(ko?.message).toBe('알 수 없는 명령이에요: RUNN');
    const [en] = lint('FROM busybox\nRUNN echo hi\n', 'en');
    expect(en?.message).toBe('Unknown instruction: RUNN');
    // Every Korean template still finds its English original in the linter (a renamed key would drop it).
    expect(lint('FROM busybox\nWORKDIR app\nMAINTAINER me\n', 'ko').map((m) => m.message)).toEqual(
      expect.arrayContaining(['WORKDIR 경로는 절대 경로로 쓰는 게 좋아요', 'MAINTAINER는 더 이상 쓰지 않아요(LABEL을 쓰세요)']),
    );
  });
  it('have an English original for every Korean linter message', async () => {
    const { Validator } = await import('dockerfile-utils/lib/dockerValidator');
    const english = (Validator as unknown as { dockerProblems: Record<string, string> }).dockerProblems;
    const source = (await import('node:fs')).readFileSync(new URL('./lint-korean.ts', import.meta.url), 'utf8');
    const keys = [...source.matchAll(/^  (\w+): '/gm)].map((m) => m[1]!);
    expect(keys.length).toBeGreaterThan(30);
    expect(keys.filter((k) => !(k in english))).toEqual([]);
  });
  it('report a missing FROM on the first line', () => {
    const markers = lint('RUN echo hi\n');
    expect(markers.map((m) => m.startLineNumber)).toContain(1);
  });
});

describe('completion and hover', () => {
  it('complete an instruction from its first letters', async () => {
    const items = await languageService().computeCompletionItems('FROM busybox\nWOR', { line: 1, character: 3 });
    expect(items.map((i) => i.label.split(' ')[0])).toContain('WORKDIR');
  });
  it('explain an instruction on hover, as markdown', () => {
    const contents = hoverContents(languageService().computeHover('FROM busybox\nEXPOSE 80\n', { line: 1, character: 2 }));
    expect(contents.map((c) => c.value).join('\n')).toMatch(/port/i);
  });
  it('never asks a registry over the network for FROM tags without a network stub failing fast', async () => {
    // Outside the browser the real https module would be used; the playground's bundle swaps it
    // for no-network.ts (next.config.ts). Here the call must still settle (not hang the editor).
    const { get } = await import('./no-network');
    const error = await new Promise<Error>((resolve) => get().on('error', resolve));
    expect(error.message).toMatch(/no network/);
  });
});

describe('which files are Dockerfiles', () => {
  it('by their names', () => {
    for (const p of ['Dockerfile', 'app/Dockerfile', 'Dockerfile.dev', 'web.dockerfile', 'Containerfile']) expect(isDockerfilePath(p), p).toBe(true);
    for (const p of ['hello.txt', 'Dockerfiles/readme.md', 'docker-compose.yml', 'Makefile']) expect(isDockerfilePath(p), p).toBe(false);
  });
});
