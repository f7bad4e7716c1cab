// Learner text that reaches a terminal cannot drive it: every escape and control sequence a
// terminal acts on is removed, and the text around it stays.
import { describe, expect, it } from 'vitest';
import { printable, printableDeep } from './printable.js';

const ESC = '\x1b';
const BEL = '\x07';

describe('printable', () => {
  it('removes OSC 52 (clipboard) and OSC 0 (window title), terminated by BEL or ST, or not at all', () => {
    expect(printable(`RUN echo hi${ESC}]52;c;ZWNobyBwd25lZA==${BEL} done`)).toBe('RUN echo hi done');
    expect(printable(`a${ESC}]0;pwned${ESC}\\b`)).toBe('ab');
    expect(printable(`a${ESC}]2;title runs to the end`)).toBe('a');
    // The 8-bit forms: OSC U+009D … ST U+009C, and CSI U+009B.
    expect(printable('a\u009d52;c;eA==\u009cb\u009b2Jc')).toBe('abc');
  });

  it('removes CSI sequences (cursor moves, erase, colours, private modes) and two-byte escapes', () => {
    expect(printable(`${ESC}[2J${ESC}[H${ESC}[31mred${ESC}[0m ${ESC}[?1049h${ESC}[1;5Hx`)).toBe('red x');
    expect(printable(`a${ESC}cb${ESC}(0c${ESC}7d`)).toBe('abcd');
    expect(printable(`device control ${ESC}Pq#0;2;0;0;0${ESC}\\end`)).toBe('device control end');
  });

  it('removes other controls; tabs and newlines become spaces unless kept', () => {
    expect(printable('a\u0000b\u0008c\rd\u007fe\u0085f')).toBe('abcdef');
    expect(printable('one\ttwo\nthree')).toBe('one two three');
    expect(printable('{\n    "a": 1\n}', { keepNewlines: true })).toBe('{\n    "a": 1\n}');
  });

  it('keeps ordinary text, Korean and emoji as they are', () => {
    const text = 'sh -c echo "안녕하세요" > /hello.txt 🎉 [ok] ~$';
    expect(printable(text)).toBe(text);
  });
});

describe('printableDeep', () => {
  it('makes every string inside a value printable, keeping newlines, numbers and shape', () => {
    const hostile = { name: `app${ESC}]52;c;cHduZWQ=${BEL}`, sizes: [1, 2], rows: [{ createdBy: `RUN x\n${ESC}[2Jy` }], none: null, ok: true };
    expect(printableDeep(hostile)).toEqual({ name: 'app', sizes: [1, 2], rows: [{ createdBy: 'RUN x\ny' }], none: null, ok: true });
    // Control: the value as read carried the sequences.
    expect(hostile.name).toContain(`${ESC}]52`);
  });
});
