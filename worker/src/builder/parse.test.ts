// Parsing Dockerfile text into instructions: pure functions, no kernel needed.
import { describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import { chompHeredoc, heredocMarkers, parseDockerfile, parseTrigger } from './parse.js';
import { closestKeyword } from './suggest.js';

function learnerError(fn: () => unknown): LearnerError {
  try {
    fn();
  } catch (err) {
    if (err instanceof LearnerError) return err;
    throw err;
  }
  throw new Error('expected a LearnerError');
}

describe('parsing a Dockerfile', () => {
  it('joins continuation lines, dropping comment and empty lines inside them', () => {
    const { instructions } = parseDockerfile('FROM busybox\nRUN echo a \\\n  # a comment\n  && echo b \\\n\n  && echo c\nCMD ["sh"]\n');
    expect(instructions.map((i) => i.keyword)).toEqual(['FROM', 'RUN', 'CMD']);
    expect(instructions[1]!.args).toBe('echo a   && echo b   && echo c');
    expect(instructions[1]!.where).toEqual({ line: 2, column: 1 });
    expect(instructions[2]!.where.line).toBe(7);
  });

  it('reads Windows line endings and drops an escape at the very end of the file', () => {
    const { instructions } = parseDockerfile('FROM busybox\r\nRUN echo a \\\r\n  b\r\nRUN echo end \\');
    expect(instructions.map((i) => i.args)).toEqual(['busybox', 'echo a   b', 'echo end']);
  });

  it('honours the escape directive', () => {
    const { escape, instructions } = parseDockerfile('# escape=`\nFROM busybox\nRUN echo C:\\path `\n  more\n');
    expect(escape).toBe('`');
    expect(instructions[1]!.args).toBe('echo C:\\path   more');
  });

  it('reads keywords in any case and leading --flags', () => {
    const { instructions } = parseDockerfile('from busybox\ncopy --chown=1:2 --from=build a b\n');
    expect(instructions[1]!.keyword).toBe('COPY');
    expect(instructions[1]!.flags.map((f) => [f.name, f.value])).toEqual([
      ['chown', '1:2'],
      ['from', 'build'],
    ]);
    expect(instructions[1]!.flags[1]!.where).toEqual({ line: 2, column: 18 });
    expect(instructions[1]!.args).toBe('a b');
  });

  it('tells exec form (a JSON array of strings) from shell form', () => {
    const { instructions } = parseDockerfile('FROM x\nCMD ["echo", "a \\"b\\""]\nCMD [not json]\nCMD ["a", 1]\n');
    expect(instructions[1]!.json).toEqual(['echo', 'a "b"']);
    expect(instructions[2]!.json).toBeNull();
    expect(instructions[3]!.json).toBeNull();
  });

  it('refuses an empty Dockerfile', () => {
    expect(learnerError(() => parseDockerfile('# only a comment\n\n')).key).toBe('build.emptyDockerfile');
  });

  it('names an unknown instruction with its line and a close keyword', () => {
    const err = learnerError(() => parseDockerfile('FROM busybox\n\nCOPPY a b\n'));
    expect(err.key).toBe('build.unknownInstructionSuggestion');
    expect(err.facts).toMatchObject({ instruction: 'COPPY', name: 'COPY', line: 3 });
    expect(err.where).toEqual({ line: 3, column: 1 });
    expect(err.message).toBe('Line 3: COPPY is not a Dockerfile instruction. Did you mean COPY?');
  });

  it('suggests nothing for a word that is no typo of a keyword', () => {
    const err = learnerError(() => parseDockerfile('FROM busybox\nBANANA x\n'));
    expect(err.key).toBe('build.unknownInstruction');
    expect(closestKeyword('RUNN', ['RUN', 'ENV'])).toBe('RUN');
    expect(closestKeyword('CPOY', ['COPY'])).toBe('COPY');
  });

  it('parses an ONBUILD trigger at the line that brought it in', () => {
    const trigger = parseTrigger('COPY . /app', { line: 4, column: 1 });
    expect(trigger).toMatchObject({ keyword: 'COPY', args: '. /app', where: { line: 4, column: 1 } });
    expect(learnerError(() => parseTrigger('BOGUS x', { line: 9, column: 1 })).where?.line).toBe(9);
  });
});

describe('here-documents, as BuildKit dockerfile:1 reads them', () => {
  it('take the lines after the command line up to the delimiter; body lines are never instructions', () => {
    const { instructions } = parseDockerfile('FROM busybox\nRUN <<EOF\nRUN echo inside\nFROM other\nEOF\nCOPY <<a <<b /d/\none\na\ntwo\nb\nCMD ["sh"]\n');
    expect(instructions.map((i) => [i.keyword, i.where.line, i.args])).toEqual([
      ['FROM', 1, 'busybox'],
      ['RUN', 2, '<<EOF'],
      ['COPY', 6, '<<a <<b /d/'],
      ['CMD', 11, '["sh"]'],
    ]);
    expect(instructions[1]!.heredocs).toEqual([{ name: 'EOF', content: 'RUN echo inside\nFROM other\n', chomp: false, expand: true }]);
    expect(instructions[2]!.heredocs.map((d) => [d.name, d.content])).toEqual([
      ['a', 'one\n'],
      ['b', 'two\n'],
    ]);
  });

  it('read quoted delimiters (no expansion), <<- (tab-indented terminator), continuation lines and CRLF', () => {
    const { instructions } = parseDockerfile('FROM b\r\nRUN <<-"EOT" \\\r\n  bash\r\n\techo $A\r\n\tEOT\r\nRUN echo done\r\n');
    expect(instructions[1]).toMatchObject({ args: '<<-"EOT"   bash', heredocs: [{ name: 'EOT', content: '\techo $A\n', chomp: true, expand: false }] });
    expect(instructions[2]!.args).toBe('echo done');
    expect(chompHeredoc('\t\ta\n\tb\n c\n')).toBe('a\nb\n c\n');
  });

  it('are no here-document: <<< , a quoted "<<EOF", exec form, a << inside a word', () => {
    for (const text of ['RUN cat <<<word', 'RUN echo "<<EOF"', 'RUN ["sh", "<<EOF"]', 'RUN echo a<<b']) {
      const { instructions } = parseDockerfile(`FROM b\n${text}\nRUN next\n`);
      expect(instructions.map((i) => i.keyword), text).toEqual(['FROM', 'RUN', 'RUN']);
      expect(instructions[1]!.heredocs).toEqual([]);
    }
    expect(heredocMarkers("<<'A' <<B 3<<-C", '\\')).toEqual([
      { name: 'A', chomp: false, expand: false },
      { name: 'B', chomp: false, expand: true },
      { name: 'C', chomp: true, expand: true },
    ]);
  });

  it('refuse an unterminated body and one in an ONBUILD trigger, naming the line', () => {
    const open = learnerError(() => parseDockerfile('FROM b\nRUN <<EOF\necho\nEOF \n'));
    expect(open).toMatchObject({ key: 'build.heredocUnterminated', facts: { line: 2, name: 'EOF' } });
    const trigger = learnerError(() => parseDockerfile('FROM b\nONBUILD RUN <<EOF\necho\nEOF\n'));
    expect(trigger).toMatchObject({ key: 'build.heredocUnsupported', facts: { line: 2, instruction: 'ONBUILD' } });
  });
});
