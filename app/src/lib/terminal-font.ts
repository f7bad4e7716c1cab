// The terminals' font (xterm.js: the container's shell and the build output). xterm gives a wide
// character (Hangul, CJK) exactly two cells and pads a glyph narrower than that, so Korean drawn
// from a CJK font beside a Latin monospace font reads letter-spaced ("안 녕"): a Hangul syllable
// is 1 em wide, two DejaVu Sans Mono cells 1.2 em. So the Latin text keeps the usual monospace
// font, and Hangul and CJK come from a face of our own ("Layercake Wide") over a CJK font of
// this machine, scaled (size-adjust) to exactly two of that Latin font's cells, as measured here.
const LATIN = "'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace";
const WIDE = 'Layercake Wide';

export const TERMINAL_FONT_FAMILY = `'${WIDE}', ${LATIN}`;
/** Rows taller than the Latin font's own: a syllable scaled to two cells is ~1.25 em tall and would reach into the row above. */
export const TERMINAL_LINE_HEIGHT = 1.35;

/** Hangul Jamo, CJK punctuation, kana, compatibility Jamo, ideographs, syllables, full-width forms. */
const WIDE_RANGES = 'U+1100-115F, U+2E80-303E, U+3041-33FF, U+3400-4DBF, U+4E00-9FFF, U+A960-A97F, U+AC00-D7A3, U+F900-FAFF, U+FE30-FE4F, U+FF00-FF60, U+FFE0-FFE6';
/** CJK fonts a learner's machine may have, best first (local() matches full or PostScript names). */
const WIDE_SOURCES = [
  'Noto Sans Mono CJK KR', 'NotoSansMonoCJKkr-Regular', 'D2Coding', 'NanumGothicCoding', 'Noto Sans CJK KR', 'NotoSansCJKkr-Regular',
  'Apple SD Gothic Neo', 'AppleSDGothicNeo-Regular', 'Malgun Gothic', 'NanumGothic', 'Noto Sans KR',
].map((name) => `local("${name}")`).join(', ');

let ready: Promise<void> | null = null;

/** Adds the scaled wide face once per page; resolves when terminals may measure their cells. */
export function terminalFontReady(): Promise<void> {
  ready ??= addWideFace().catch(() => undefined); // no CJK font: wide text falls back, spaced
  return ready;
}

async function addWideFace(): Promise<void> {
  const probe = new FontFace(WIDE, WIDE_SOURCES, { unicodeRange: WIDE_RANGES });
  await probe.load();
  document.fonts.add(probe);
  const ctx = document.createElement('canvas').getContext('2d')!;
  ctx.font = `100px ${LATIN}`;
  const cell = ctx.measureText('W').width;
  ctx.font = `100px '${WIDE}'`;
  const wide = ctx.measureText('한').width;
  document.fonts.delete(probe);
  // sizeAdjust: CSS Fonts 5, in Chromium and Firefox (TypeScript's DOM types lack it still).
  const scaled = new FontFace(WIDE, WIDE_SOURCES, { unicodeRange: WIDE_RANGES, sizeAdjust: `${((200 * cell) / wide).toFixed(2)}%` } as FontFaceDescriptors);
  await scaled.load();
  document.fonts.add(scaled);
}
