// Dockerfile text → instructions. dockerfile-ast finds the instructions, their keywords, their
// source ranges and the `# escape=` directive; the rest (joining continuation lines, flags, the
// JSON "exec form") is done here, the way Docker's own parser does it, because dockerfile-ast is
// an editor's parser and keeps what an editor needs (e.g. comment lines inside a continued
// RUN), not what a builder needs. Every character of an instruction's logical line keeps its
// source position, so errors point at the learner's line and column.
import { DockerfileParser } from 'dockerfile-ast';
import { LearnerError } from '../../../protocol/errors.js';
import { closestKeyword } from './suggest.js';
import { expandWord, splitWords } from './substitution.js';

export const KEYWORDS = [
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
] as const;
export type Keyword = (typeof KEYWORDS)[number];

/** A position in the Dockerfile, 1-based like an editor shows it. */
export interface Where {
  line: number;
  column: number;
}

export interface Flag {
  name: string;
  /** null for a bare `--flag`. */
  value: string | null;
  where: Where;
}

export interface Instruction {
  keyword: Keyword;
  /** The instruction as one logical line (continuations joined), as it appears in events. */
  text: string;
  where: Where;
  flags: Flag[];
  /** The arguments after the flags, raw: no quotes removed, no variables substituted. */
  args: string;
  /** Where the arguments start (for errors about them). */
  argsWhere: Where;
  /** The arguments as a JSON array of strings (Docker's exec form), or null (shell form). */
  json: string[] | null;
  /** Here-documents of RUN, COPY and ADD (shell form), in the order their `<<NAME` words appear. */
  heredocs: Heredoc[];
}

/** One here-document (`<<EOF` … `EOF`), as BuildKit's dockerfile:1 parser reads it. */
export interface Heredoc {
  /** The delimiter, quotes removed: COPY's file name, the file a `#!` RUN script becomes. */
  name: string;
  /** The body lines, each with its newline; for `<<-`, still with its leading tabs. */
  content: string;
  /** `<<-NAME`: leading tabs are stripped from the body (and the terminator). */
  chomp: boolean;
  /** No quotes in the delimiter: COPY substitutes variables in the body. */
  expand: boolean;
}

export interface ParsedDockerfile {
  escape: string;
  instructions: Instruction[];
}

/** The logical line of one instruction: text plus the source position of each character. */
interface LogicalLine {
  text: string;
  at: Where[];
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

/**
 * Joins an instruction's physical lines the way Docker does: a line ending in the escape
 * character (trailing blanks allowed) continues on the next; comment lines and empty lines
 * inside a continuation are dropped; the pieces are joined without adding anything.
 */
function logicalLine(source: string[], startLine: number, startChar: number, endLine: number, escape: string): LogicalLine {
  const continuation = new RegExp(`${escapeRegExp(escape)}[ \\t]*$`);
  let text = '';
  const at: Where[] = [];
  for (let lineNo = startLine; lineNo <= endLine; lineNo++) {
    let line = (source[lineNo] ?? '').replace(/\r$/, '');
    let from = lineNo === startLine ? startChar : 0;
    if (lineNo > startLine && (/^\s*#/.test(line) || line.trim() === '')) continue;
    // An escape at the end of the instruction's last line can only be one at the end of the
    // file: nothing follows for it to join, and Docker drops it.
    const cont = continuation.exec(line);
    if (cont) line = line.slice(0, cont.index);
    for (let i = from; i < line.length; i++) {
      text += line[i];
      at.push({ line: lineNo + 1, column: i + 1 });
    }
    from = 0;
  }
  return { text, at };
}

function whereAt(logical: LogicalLine, offset: number, fallback: Where): Where {
  return logical.at[offset] ?? logical.at[logical.at.length - 1] ?? fallback;
}

/** Docker's exec form: the arguments parse as a JSON array of strings. */
export function parseJsonArray(args: string): string[] | null {
  const trimmed = args.trim();
  if (!trimmed.startsWith('[')) return null;
  try {
    const value: unknown = JSON.parse(trimmed);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  } catch {
    // Not JSON: Docker then treats the whole thing as shell form.
  }
  return null;
}

/** Leading `--name[=value]` words. Docker extracts these for every instruction. */
function splitFlags(logical: LogicalLine, argsStart: number, fallback: Where): { flags: Flag[]; rest: number } {
  const flags: Flag[] = [];
  const text = logical.text;
  let i = argsStart;
  for (;;) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (!text.startsWith('--', i)) break;
    let end = i;
    while (end < text.length && !/\s/.test(text[end]!)) end++;
    const word = text.slice(i + 2, end);
    if (word === '') break; // a lone `--` is an argument
    const eq = word.indexOf('=');
    flags.push({
      name: eq === -1 ? word : word.slice(0, eq),
      value: eq === -1 ? null : word.slice(eq + 1),
      where: whereAt(logical, i, fallback),
    });
    i = end;
  }
  while (i < text.length && /\s/.test(text[i]!)) i++;
  return { flags, rest: i };
}

/**
 * Parses a Dockerfile. Throws LearnerErrors for an empty file and unknown instructions; what
 * each instruction's arguments mean is checked where the instruction is executed.
 */
export function parseDockerfile(content: string): ParsedDockerfile {
  const document = DockerfileParser.parse(content);
  const escape = document.getEscapeCharacter();
  const source = content.split('\n');
  checkSyntaxDirective(document);
  const instructions: Instruction[] = [];
  // The last line a here-document body took: dockerfile-ast's ranges usually cover the bodies
  // already, but an instruction it found inside one is body text, never an instruction.
  let bodyEnd = -1;
  for (const node of document.getInstructions()) {
    const range = node.getRange();
    if (range.start.line <= bodyEnd) continue;
    const keywordRange = node.getInstructionRange();
    const where: Where = { line: range.start.line + 1, column: range.start.character + 1 };
    const word = node.getInstruction();
    const keyword = word.toUpperCase();
    if (!(KEYWORDS as readonly string[]).includes(keyword)) {
      const suggestion = closestKeyword(keyword, KEYWORDS);
      if (suggestion !== null) {
        throw new LearnerError('build.unknownInstructionSuggestion', { line: where.line, instruction: word, name: suggestion }, where);
      }
      throw new LearnerError('build.unknownInstruction', { line: where.line, instruction: word, suggestion: '' }, where);
    }
    // An instruction that may hold here-documents ends, for its own text, where its command
    // line ends; the bodies follow it (BuildKit reads them after the joined line).
    const commandEnd = HEREDOC_KEYWORDS.has(keyword as Keyword) || keyword === 'ONBUILD' ? commandLineEnd(source, range.start.line, escape) : range.end.line;
    let instruction = buildInstruction(keyword as Keyword, source, range.start.line, keywordRange.start.character, Math.min(commandEnd, range.end.line), escape, where);
    const markers = instruction.json === null ? heredocMarkers(instruction.args, escape) : [];
    if (markers.length > 0 && !HEREDOC_KEYWORDS.has(instruction.keyword)) {
      // ONBUILD RUN <<EOF: a trigger is stored as one line in the image's config, so there is nowhere to keep its body.
      throw new LearnerError('build.heredocUnsupported', { line: where.line, instruction: instruction.keyword }, instruction.argsWhere);
    }
    if (markers.length > 0) {
      const { heredocs, end } = readHeredocs(source, commandEnd + 1, markers, instruction);
      instruction = { ...instruction, heredocs };
      bodyEnd = end;
    } else if (commandEnd < range.end.line) {
      instruction = buildInstruction(keyword as Keyword, source, range.start.line, keywordRange.start.character, range.end.line, escape, where);
    }
    instructions.push(instruction);
  }
  if (instructions.length === 0) throw new LearnerError('build.emptyDockerfile', {});
  return { escape, instructions };
}

const HEREDOC_KEYWORDS = new Set<Keyword>(['RUN', 'COPY', 'ADD']);

/** The last physical line (0-based) of the command line starting at `start`: continuations followed. */
function commandLineEnd(source: string[], start: number, escape: string): number {
  const continuation = new RegExp(`${escapeRegExp(escape)}[ \\t]*$`);
  let line = start;
  while (line + 1 < source.length) {
    const text = (source[line] ?? '').replace(/\r$/, '');
    // Comment and empty lines inside a continuation are skipped, as logicalLine drops them.
    if (line > start && (/^\s*#/.test(text) || text.trim() === '')) {
      line++;
      continue;
    }
    if (!continuation.test(text)) break;
    line++;
  }
  return line;
}

/** BuildKit's test of a word: `[n]<<[-]rest`, where rest has no `<` (so `<<<` is no here-document). */
const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;

/**
 * The here-documents a command line asks for, as BuildKit finds them: each whitespace-separated
 * word (quotes kept) that is `<<NAME`, `<<-NAME`, `<<"NAME"`; NAME unquoted is the delimiter,
 * and any quote in it turns substitution of the body off.
 */
export function heredocMarkers(args: string, escape: string): Omit<Heredoc, 'content'>[] {
  const markers: Omit<Heredoc, 'content'>[] = [];
  for (const word of splitWords(args, escape)) {
    const match = HEREDOC_WORD.exec(word);
    if (match === null || match[3] === '') continue;
    const rest = match[3]!;
    let name: string;
    try {
      // Variables in a delimiter are kept as written (BuildKit skips unset ones; none is set here).
      name = expandWord(rest, (variable) => `$${variable}`, escape);
    } catch {
      continue;
    }
    if (name === '' || splitWords(rest, escape).length !== 1) continue;
    markers.push({ name, chomp: match[2] === '-', expand: !/["']/.test(rest) });
  }
  return markers;
}

/** Reads each here-document's body after the command line, up to its terminator line. */
function readHeredocs(source: string[], first: number, markers: Omit<Heredoc, 'content'>[], instruction: Instruction): { heredocs: Heredoc[]; end: number } {
  const heredocs: Heredoc[] = [];
  let line = first;
  for (const marker of markers) {
    let content = '';
    let terminated = false;
    for (; line < source.length; line++) {
      const text = (source[line] ?? '').replace(/\r$/, '');
      const candidate = marker.chomp ? text.replace(/^\t+/, '') : text;
      if (candidate === marker.name) {
        terminated = true;
        line++;
        break;
      }
      content += `${text}\n`;
    }
    if (!terminated) {
      throw new LearnerError('build.heredocUnterminated', { line: instruction.where.line, instruction: instruction.keyword, name: marker.name }, instruction.argsWhere);
    }
    heredocs.push({ ...marker, content });
  }
  return { heredocs, end: line - 1 };
}

/**
 * The instruction as the learner wrote it, here-document bodies and terminators included: what
 * the cache compares to say "the instruction changed" when only a body did.
 */
export function writtenText(instruction: Instruction): string {
  return instruction.text + instruction.heredocs.map((doc) => `\n${doc.content}${doc.name}`).join('');
}

/** `<<-`'s body: leading tabs removed from every line. */
export function chompHeredoc(content: string): string {
  return content.replace(/^\t+/gm, '');
}

/**
 * `# syntax=` picks the frontend. This builder is the frontend, and it implements
 * docker/dockerfile:1 (what the docs put on line 1); another one (labs, a custom image) would
 * bring features it does not have, so it is refused rather than ignored.
 */
const OWN_FRONTEND = /^(?:docker\.io\/)?docker\/dockerfile:1(?:\.\d+){0,2}(?:@sha256:[0-9a-f]{64})?$/;

function checkSyntaxDirective(document: ReturnType<typeof DockerfileParser.parse>): void {
  for (const directive of document.getDirectives()) {
    if (directive.getName().toLowerCase() !== 'syntax') continue;
    const frontend = directive.getValue().trim();
    if (OWN_FRONTEND.test(frontend)) continue;
    const line = directive.getRange().start.line + 1;
    throw new LearnerError('build.syntaxUnsupported', { line, frontend }, { line, column: 1 });
  }
}

function buildInstruction(
  keyword: Keyword,
  source: string[],
  startLine: number,
  startChar: number,
  endLine: number,
  escape: string,
  where: Where,
): Instruction {
  const logical = logicalLine(source, startLine, startChar, endLine, escape);
  // The keyword itself is the first word of the logical line.
  let argsStart = 0;
  while (argsStart < logical.text.length && !/\s/.test(logical.text[argsStart]!)) argsStart++;
  const { flags, rest } = splitFlags(logical, argsStart, where);
  const args = logical.text.slice(rest).replace(/\s+$/, '');
  return {
    keyword,
    text: `${keyword} ${logical.text.slice(argsStart).trim()}`.trim(),
    where,
    flags,
    args,
    argsWhere: whereAt(logical, rest, where),
    json: parseJsonArray(args),
    heredocs: [],
  };
}

/**
 * Parses one ONBUILD trigger (`RUN make`, stored in the base image's config) as an instruction
 * of the image being built; positions point at the FROM line that brought it in.
 */
export function parseTrigger(trigger: string, where: Where): Instruction {
  let instruction: Instruction;
  try {
    instruction = parseDockerfile(trigger).instructions[0]!;
  } catch (err) {
    if (err instanceof LearnerError) throw new LearnerError(err.key, { ...err.facts, line: where.line }, where);
    throw err;
  }
  return { ...instruction, where, argsWhere: where, flags: instruction.flags.map((f) => ({ ...f, where })) };
}

/** Flags an instruction accepts; anything else is refused like Docker refuses it. */
export function checkFlags(instruction: Instruction, allowed: readonly string[]): Map<string, Flag> {
  const seen = new Map<string, Flag>();
  for (const flag of instruction.flags) {
    if (!allowed.includes(flag.name)) {
      throw new LearnerError(
        'build.invalidFlag',
        { line: instruction.where.line, instruction: instruction.keyword, flag: flag.name },
        flag.where,
      );
    }
    seen.set(flag.name, flag);
  }
  return seen;
}
