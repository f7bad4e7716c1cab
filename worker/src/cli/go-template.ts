// Go's text/template, the part `docker inspect -f`, `ps --format`, `images --format` and
// `history --format` tutorials use: field paths, `if`/`else`/`range`/`with`/`end`, pipes, `$`,
// Go's own functions (index, len, eq…, printf) and Docker's (json, join, split, upper, lower,
// title, pad, truncate). Written small here rather than borrowed: it only ever sees JSON-shaped
// values (the views the verbs build), so it prints them as Go prints the map Docker decodes
// inspect's JSON into (`map[a:1 b:2]`, `[x y]`, `<no value>` for null), and a missing key is an
// error, as Docker's missingkey=error makes it. Error texts are Go's, positions included
// (https://pkg.go.dev/text/template).

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Value = Json | undefined;

/** A template that could not be parsed (Docker: "template parsing error") or executed. */
export class TemplateError extends Error {
  constructor(
    message: string,
    readonly phase: 'parse' | 'execute',
  ) {
    super(message);
  }
}

// ---- lexing an action into tokens -------------------------------------------------------

type Token =
  | { kind: 'field'; name: string; pos: number } // .Name (a chain is several)
  | { kind: 'dot'; pos: number }
  | { kind: 'var'; name: string; pos: number } // $ or $x
  | { kind: 'ident'; name: string; pos: number }
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'number'; value: number; pos: number }
  | { kind: 'punct'; value: '|' | '(' | ')' | ':=' | ','; pos: number };

function lexAction(src: string, start: number, text: string, line: () => number): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const fail = (what: string): never => {
    throw new TemplateError(`template: :${line()}: ${what}`, 'parse');
  };
  while (i < text.length) {
    const c = text[i]!;
    const pos = start + i;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '.' && /[A-Za-z_]/.test(text[i + 1] ?? '')) {
      const m = /^\.[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))![0];
      tokens.push({ kind: 'field', name: m.slice(1), pos });
      i += m.length;
    } else if (c === '.') {
      tokens.push({ kind: 'dot', pos });
      i++;
    } else if (c === '$') {
      const m = /^\$[A-Za-z0-9_]*/.exec(text.slice(i))![0];
      tokens.push({ kind: 'var', name: m, pos });
      i += m.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))![0];
      tokens.push({ kind: 'ident', name: m, pos });
      i += m.length;
    } else if (c === '"') {
      const m = /^"(?:[^"\\\n]|\\.)*"/.exec(text.slice(i));
      if (!m) fail('unterminated quoted string');
      tokens.push({ kind: 'string', value: JSON.parse(m![0].replace(/\\'/g, "'")) as string, pos });
      i += m![0].length;
    } else if (c === '`') {
      const end = text.indexOf('`', i + 1);
      if (end < 0) fail('unterminated raw quoted string');
      tokens.push({ kind: 'string', value: text.slice(i + 1, end), pos });
      i = end + 1;
    } else if (/[-+0-9]/.test(c)) {
      const m = /^[-+]?(?:0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)/.exec(text.slice(i));
      if (!m) fail(`bad number syntax: "${c}"`);
      tokens.push({ kind: 'number', value: Number(m![0]), pos });
      i += m![0].length;
    } else if (c === ':' && text[i + 1] === '=') {
      tokens.push({ kind: 'punct', value: ':=', pos });
      i += 2;
    } else if (c === '|' || c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: 'punct', value: c, pos });
      i++;
    } else {
      fail(`unexpected "${c}" in command`);
    }
  }
  void src;
  return tokens;
}

// ---- the parse tree ----------------------------------------------------------------------

type Operand =
  | { kind: 'field'; base: 'dot' | string | Pipeline; path: string[]; pos: number; text: string } // base: dot, a variable, or (pipeline)
  | { kind: 'literal'; value: Json; pos: number; text: string }
  | { kind: 'pipeline'; pipeline: Pipeline; pos: number; text: string };

interface Command {
  fn: string | null; // a function's name, or null when the command is one operand
  args: Operand[];
  pos: number;
  text: string;
}

interface Pipeline {
  decl: string[]; // $x := … (range: $i, $e := …)
  commands: Command[];
  pos: number;
}

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: Pipeline }
  | { kind: 'if' | 'with' | 'range'; pipeline: Pipeline; then: Node[]; otherwise: Node[] };

const FUNCTIONS = new Set([
  'and', 'or', 'not', 'len', 'index', 'slice', 'print', 'printf', 'println', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'html', 'js', 'urlquery', 'call',
  'json', 'join', 'split', 'upper', 'lower', 'title', 'pad', 'truncate',
]);

export interface Template {
  nodes: Node[];
  source: string;
}

export function parseTemplate(source: string): Template {
  const lineAt = (pos: number): number => source.slice(0, pos).split('\n').length;
  // Split into text and actions, applying {{- and -}} trimming.
  const parts: ({ kind: 'text'; text: string } | { kind: 'action'; text: string; pos: number })[] = [];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open < 0) {
      parts.push({ kind: 'text', text: source.slice(i) });
      break;
    }
    let text = source.slice(i, open);
    let inner = open + 2;
    if (source[inner] === '-' && /\s/.test(source[inner + 1] ?? '')) {
      text = text.trimEnd();
      inner++;
    }
    if (text) parts.push({ kind: 'text', text });
    const close = source.indexOf('}}', inner);
    if (close < 0) throw new TemplateError(`template: :${lineAt(open)}: unclosed action`, 'parse');
    let end = close;
    let trimAfter = false;
    if (source[close - 1] === '-' && /\s/.test(source[close - 2] ?? '')) {
      end = close - 1;
      trimAfter = true;
    }
    parts.push({ kind: 'action', text: source.slice(inner, end), pos: inner });
    i = close + 2;
    if (trimAfter) while (i < source.length && /\s/.test(source[i]!)) i++;
  }

  // Nest if/with/range … else … end.
  const root: Node[] = [];
  const stack: { node: Extract<Node, { then: Node[] }>; inElse: boolean; chained: number }[] = [];
  const target = (): Node[] => {
    const top = stack[stack.length - 1];
    return top ? (top.inElse ? top.node.otherwise : top.node.then) : root;
  };
  for (const part of parts) {
    if (part.kind === 'text') {
      target().push(part);
      continue;
    }
    const line = (): number => lineAt(part.pos);
    if (/^\s*\/\*[\s\S]*\*\/\s*$/.test(part.text)) continue;
    const tokens = lexAction(source, part.pos, part.text, line);
    const first = tokens[0];
    const keyword = first?.kind === 'ident' ? first.name : '';
    if (keyword === 'end') {
      if (stack.length === 0) throw new TemplateError(`template: :${line()}: unexpected {{end}}`, 'parse');
      const top = stack.pop()!;
      // `else if` opened nested nodes that one {{end}} closes together.
      for (let n = 0; n < top.chained; n++) stack.pop();
      continue;
    }
    if (keyword === 'else') {
      const top = stack[stack.length - 1];
      if (!top || top.inElse) throw new TemplateError(`template: :${line()}: unexpected {{else}}`, 'parse');
      top.inElse = true;
      const rest = tokens.slice(1);
      if (rest.length > 0) {
        const kw = rest[0]!.kind === 'ident' ? (rest[0] as { name: string }).name : '';
        if (kw !== 'if' && kw !== 'with') throw new TemplateError(`template: :${line()}: unexpected ${tokenText(rest[0]!)} in else`, 'parse');
        const node = { kind: kw, pipeline: parsePipeline(rest.slice(1), part.text, part.pos, line), then: [], otherwise: [] } as Extract<Node, { then: Node[] }>;
        top.node.otherwise.push(node);
        stack.push({ node, inElse: false, chained: top.chained + 1 });
        top.chained = 0;
      }
      continue;
    }
    if (keyword === 'if' || keyword === 'with' || keyword === 'range') {
      const node = { kind: keyword, pipeline: parsePipeline(tokens.slice(1), part.text, part.pos, line), then: [], otherwise: [] } as Extract<Node, { then: Node[] }>;
      target().push(node);
      stack.push({ node, inElse: false, chained: 0 });
      continue;
    }
    if (keyword === 'define' || keyword === 'template' || keyword === 'block' || keyword === 'break' || keyword === 'continue') {
      throw new TemplateError(`template: :${line()}: {{${keyword}}} is not supported here`, 'parse');
    }
    if (tokens.length === 0) throw new TemplateError(`template: :${line()}: missing value for command`, 'parse');
    target().push({ kind: 'action', pipeline: parsePipeline(tokens, part.text, part.pos, line) });
  }
  if (stack.length > 0) throw new TemplateError(`template: :${lineAt(source.length)}: unexpected EOF`, 'parse');
  return { nodes: root, source };
}

function tokenText(t: Token): string {
  switch (t.kind) {
    case 'field':
      return `.${t.name}`;
    case 'dot':
      return '.';
    case 'var':
    case 'ident':
      return t.name;
    case 'string':
      return JSON.stringify(t.value);
    case 'number':
      return String(t.value);
    case 'punct':
      return t.value;
  }
}

function parsePipeline(tokens: Token[], actionText: string, actionPos: number, line: () => number): Pipeline {
  const fail = (what: string): never => {
    throw new TemplateError(`template: :${line()}: ${what}`, 'parse');
  };
  let at = 0;
  const decl: string[] = [];
  // $x := … or $i, $e := …
  const assign = tokens.findIndex((t) => t.kind === 'punct' && t.value === ':=');
  if (assign > 0 && tokens.slice(0, assign).every((t) => t.kind === 'var' || (t.kind === 'punct' && t.value === ','))) {
    for (const t of tokens.slice(0, assign)) if (t.kind === 'var') decl.push(t.name);
    at = assign + 1;
  }
  const snippet = (from: number, to: number): string => actionText.slice(from - actionPos, to - actionPos).trim();
  const endOf = (t: Token): number => t.pos + tokenText(t).length;

  function operand(): Operand | null {
    const t = tokens[at];
    if (!t) return null;
    let op: Operand;
    if (t.kind === 'field') {
      const path: string[] = [];
      let last = t;
      // A chain is fields written together (.A.B); a space starts the next operand.
      while (tokens[at]?.kind === 'field' && (path.length === 0 || tokens[at]!.pos === endOf(last))) {
        last = tokens[at] as typeof t;
        path.push(last.name);
        at++;
      }
      op = { kind: 'field', base: 'dot', path, pos: path.length > 1 ? tokens[at - path.length + 1]!.pos : t.pos, text: '' };
      op.text = snippet(t.pos, endOf(last));
      return op;
    }
    if (t.kind === 'dot') {
      at++;
      return { kind: 'field', base: 'dot', path: [], pos: t.pos, text: '.' };
    }
    if (t.kind === 'var') {
      at++;
      const path: string[] = [];
      while (tokens[at]?.kind === 'field' && tokens[at]!.pos === t.pos + t.name.length + path.reduce((n, p) => n + p.length + 1, 0)) path.push((tokens[at++] as { name: string }).name);
      return { kind: 'field', base: t.name, path, pos: t.pos, text: t.name + path.map((p) => `.${p}`).join('') };
    }
    if (t.kind === 'string' || t.kind === 'number') {
      at++;
      return { kind: 'literal', value: t.value, pos: t.pos, text: tokenText(t) };
    }
    if (t.kind === 'ident' && (t.name === 'true' || t.name === 'false' || t.name === 'nil')) {
      at++;
      return { kind: 'literal', value: t.name === 'nil' ? null : t.name === 'true', pos: t.pos, text: t.name };
    }
    if (t.kind === 'punct' && t.value === '(') {
      at++;
      const inner = pipeline(true);
      if (!(tokens[at]?.kind === 'punct' && (tokens[at] as { value: string }).value === ')')) fail('unclosed left paren');
      const close = tokens[at]!;
      at++;
      const path: string[] = [];
      while (tokens[at]?.kind === 'field' && tokens[at]!.pos === close.pos + 1 + path.reduce((n, p) => n + p.length + 1, 0)) path.push((tokens[at++] as { name: string }).name);
      const text = snippet(t.pos, endOf(close)) + path.map((p) => `.${p}`).join('');
      return path.length > 0 ? { kind: 'field', base: inner, path, pos: t.pos, text } : { kind: 'pipeline', pipeline: inner, pos: t.pos, text };
    }
    return null;
  }

  function pipeline(nested: boolean): Pipeline {
    const commands: Command[] = [];
    const pos = tokens[at]?.pos ?? actionPos;
    for (;;) {
      const start = tokens[at];
      if (!start) fail('missing value for command');
      let fn: string | null = null;
      const args: Operand[] = [];
      if (start!.kind === 'ident' && !['true', 'false', 'nil'].includes(start!.name)) {
        if (!FUNCTIONS.has(start!.name)) fail(`function "${start!.name}" not defined`);
        fn = start!.name;
        at++;
      }
      for (;;) {
        const t = tokens[at];
        if (!t || (t.kind === 'punct' && (t.value === '|' || t.value === ')'))) break;
        if (t.kind === 'ident' && !['true', 'false', 'nil'].includes(t.name)) {
          // A function as an argument takes no arguments of its own (Go's niladic call).
          if (!FUNCTIONS.has(t.name)) fail(`function "${t.name}" not defined`);
          at++;
          args.push({ kind: 'pipeline', pipeline: { decl: [], commands: [{ fn: t.name, args: [], pos: t.pos, text: t.name }], pos: t.pos }, pos: t.pos, text: t.name });
          continue;
        }
        const op = operand();
        if (!op) fail(`unexpected "${tokenText(t)}" in operand`);
        args.push(op!);
      }
      if (fn === null && args.length === 0) fail('missing value for command');
      if (fn === null && args.length > 1) fail(`can't give argument to non-function ${args[0]!.text}`);
      const last = tokens[at - 1]!;
      commands.push({ fn, args, pos: start!.pos, text: snippet(start!.pos, last.kind === 'punct' && last.value === ')' ? last.pos + 1 : endOf(last)) });
      const t = tokens[at];
      if (t?.kind === 'punct' && t.value === '|') {
        at++;
        continue;
      }
      if (!nested && t) fail(`unexpected "${tokenText(t)}" in command`);
      return { decl: [], commands, pos };
    }
  }

  const result = pipeline(false);
  result.decl = decl;
  return result;
}

// ---- executing ---------------------------------------------------------------------------

export interface ExecuteOptions {
  /** Docker's header pass of a `table` format: its own functions give back their argument. */
  header?: boolean;
}

/** Go's %v of a value decoded from JSON: maps with sorted keys, `<nil>` inside, `<no value>` alone. */
export function goPrint(value: Value, top = true): string {
  if (value === undefined || value === null) return top ? '<no value>' : '<nil>';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map((v) => goPrint(v, false)).join(' ')}]`;
  return `map[${Object.keys(value)
    .sort()
    .map((k) => `${k}:${goPrint(value[k], false)}`)
    .join(' ')}]`;
}

// Two things Go's values say that JSON cannot: a nil slice or map prints as [] or map[] (Docker's
// inspect -f runs over its structs) yet encodes as null, and an `omitempty` field is in the
// struct a template reads but left out of the JSON printed when empty. The views mark them.
const NIL = new WeakSet<object>();
const OMIT_EMPTY = new WeakMap<object, readonly string[]>();

/** A nil slice: `[]` to a template, `null` in JSON. */
export function nilSlice(): Json {
  const value: Json[] = [];
  NIL.add(value);
  return value;
}

/** A nil map: `map[]` to a template, `null` in JSON. */
export function nilMap(): Json {
  const value: { [key: string]: Json } = {};
  NIL.add(value);
  return value;
}

/** `object`, whose `keys` JSON leaves out when empty (Go's omitempty); a template still reads them. */
export function omitEmpty<T extends object>(object: T, keys: readonly string[]): T {
  OMIT_EMPTY.set(object, keys);
  return object;
}

function goEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === '' || value === false || value === 0) return true;
  return typeof value === 'object' && (Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0);
}

/** JSON.stringify's replacer for marked views: nil as null, an empty omitempty field left out. */
export function goJsonReplacer(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (NIL.has(value)) return null;
  const keys = OMIT_EMPTY.get(value);
  return keys ? Object.fromEntries(Object.entries(value).filter(([k, v]) => !(keys.includes(k) && goEmpty(v)))) : value;
}

/** Escapes JSON text's <, >, & (and U+2028/9) as Go's encoder does for HTML: \u003c… */
export function goJsonEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Go's json.Marshal: no spaces, and <, >, & escaped as it escapes them for HTML. */
export function goJson(value: Value): string {
  return goJsonEscape(JSON.stringify(value ?? null, goJsonReplacer) ?? 'null');
}

function truth(value: Value): boolean {
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

function typeName(value: Value): string {
  if (value === undefined || value === null) return 'interface {}';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float64';
  if (typeof value === 'boolean') return 'bool';
  return Array.isArray(value) ? '[]interface {}' : 'map[string]interface {}';
}

function sprintf(format: string, args: Value[]): string {
  let n = 0;
  return format.replace(/%([-+ 0#]*)(\d*)(?:\.(\d+))?([%vsdqxXftT])/g, (_m, flags: string, width: string, precision: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    const arg = args[n++];
    if (arg === undefined && n > args.length) return `%!${verb}(MISSING)`;
    let out: string;
    switch (verb) {
      case 'd':
        out = typeof arg === 'number' ? String(Math.trunc(arg)) : `%!d(${typeName(arg)}=${goPrint(arg, false)})`;
        break;
      case 'f':
        out = typeof arg === 'number' ? arg.toFixed(precision === undefined ? 6 : Number(precision)) : `%!f(${typeName(arg)}=${goPrint(arg, false)})`;
        break;
      case 'q':
        out = JSON.stringify(typeof arg === 'string' ? arg : goPrint(arg, false));
        break;
      case 'x':
      case 'X':
        out = typeof arg === 'number' ? arg.toString(16) : Buffer.from(goPrint(arg, false)).toString('hex');
        if (verb === 'X') out = out.toUpperCase();
        break;
      case 'T':
        out = typeName(arg);
        break;
      default:
        out = goPrint(arg, false);
    }
    const w = Number(width || 0);
    return out.length >= w ? out : flags.includes('-') ? out.padEnd(w) : out.padStart(w, flags.includes('0') && verb !== 's' ? '0' : ' ');
  });
}

/** Go's print: spaces between operands when neither is a string. */
function goSprint(args: Value[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += goPrint(a, false);
  });
  return out;
}

function compare(a: Value, b: Value, at: string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new ExecError(at, 'error calling lt: incompatible types for comparison');
}

class ExecError extends Error {
  constructor(
    readonly at: string,
    message: string,
  ) {
    super(message);
  }
}

type Call = (args: Value[], at: string) => Value;

const goFunctions: Record<string, Call> = {
  and: (args) => args.find((a) => !truth(a)) ?? args[args.length - 1],
  or: (args) => args.find((a) => truth(a)) ?? args[args.length - 1],
  not: (args) => !truth(args[0]),
  len: (args, at) => {
    const v = args[0];
    if (typeof v === 'string') return Buffer.byteLength(v);
    if (Array.isArray(v)) return v.length;
    if (v && typeof v === 'object') return Object.keys(v).length;
    throw new ExecError(at, `error calling len: len of type ${typeName(v)}`);
  },
  index: (args, at) => {
    let v = args[0];
    for (const key of args.slice(1)) {
      if (Array.isArray(v)) {
        if (typeof key !== 'number') throw new ExecError(at, `error calling index: cannot index slice/array with type ${typeName(key)}`);
        if (key < 0 || key >= v.length) throw new ExecError(at, `error calling index: index out of range: ${key}`);
        v = v[key];
      } else if (typeof v === 'string') {
        if (typeof key !== 'number' || key < 0 || key >= Buffer.byteLength(v)) throw new ExecError(at, `error calling index: index out of range: ${goPrint(key)}`);
        v = Buffer.from(v)[key]!;
      } else if (v && typeof v === 'object') {
        if (typeof key !== 'string') throw new ExecError(at, `error calling index: value has type ${typeName(key)}; should be string`);
        // Go's index gives the zero value for a missing key, with no error.
        v = Object.prototype.hasOwnProperty.call(v, key) ? v[key] : undefined;
      } else {
        throw new ExecError(at, `error calling index: index of untyped nil`);
      }
    }
    return v;
  },
  slice: (args, at) => {
    const [v, from = 0, to] = args as [Value, number?, number?];
    if (typeof v === 'string') return v.slice(from, to);
    if (Array.isArray(v)) return v.slice(from, to);
    throw new ExecError(at, `error calling slice: can't slice item of type ${typeName(v)}`);
  },
  print: (args) => goSprint(args),
  println: (args) => `${args.map((a) => goPrint(a, false)).join(' ')}\n`,
  printf: (args) => sprintf(String(args[0] ?? ''), args.slice(1)),
  eq: (args) => args.slice(1).some((b) => goJson(args[0]) === goJson(b)),
  ne: (args) => goJson(args[0]) !== goJson(args[1]),
  lt: (args, at) => compare(args[0], args[1], at) < 0,
  le: (args, at) => compare(args[0], args[1], at) <= 0,
  gt: (args, at) => compare(args[0], args[1], at) > 0,
  ge: (args, at) => compare(args[0], args[1], at) >= 0,
  html: (args) => goSprint(args).replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&#39;', '"': '&#34;' })[c]!),
  js: (args) => JSON.stringify(goSprint(args)).slice(1, -1),
  urlquery: (args) => encodeURIComponent(goSprint(args)),
  call: (_args, at) => {
    throw new ExecError(at, 'error calling call: non-function of type interface {}');
  },
  // Docker's (cli/templates): the names tutorials use.
  json: (args) => goJson(args[0]),
  join: (args) => (Array.isArray(args[0]) ? args[0].map((v) => goPrint(v, false)).join(String(args[1] ?? '')) : goPrint(args[0])),
  split: (args) => String(args[0] ?? '').split(String(args[1] ?? '')),
  upper: (args) => String(args[0] ?? '').toUpperCase(),
  lower: (args) => String(args[0] ?? '').toLowerCase(),
  title: (args) => String(args[0] ?? '').replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_m, a: string, b: string) => a + b.toUpperCase()),
  pad: (args) => `${' '.repeat(Number(args[1] ?? 0))}${goPrint(args[0], false)}${' '.repeat(Number(args[2] ?? 0))}`,
  truncate: (args) => {
    const s = [...String(args[0] ?? '')];
    return s.length > Number(args[1]) ? s.slice(0, Number(args[1])).join('') : s.join('');
  },
};

const DOCKER_FUNCTIONS = new Set(['json', 'join', 'split', 'upper', 'lower', 'title', 'pad', 'truncate']);

/** Runs `template` with `data` as dot. Errors read as Go's: `template: :1:2: executing "" at <.X>: …`. */
export function executeTemplate(template: Template, data: Json, options: ExecuteOptions = {}): string {
  const source = template.source;
  const where = (pos: number): string => {
    const before = source.slice(0, pos);
    return `${before.split('\n').length}:${pos - (before.lastIndexOf('\n') + 1)}`;
  };
  let out = '';
  const vars: Record<string, Value>[] = [{ $: data }];
  const lookup = (name: string, pos: number, text: string): Value => {
    for (let i = vars.length - 1; i >= 0; i--) if (name in vars[i]!) return vars[i]![name];
    throw new TemplateError(`template: :${where(pos)}: undefined variable: ${text}`, 'parse');
  };

  const field = (receiver: Value, name: string, pos: number, text: string): Value => {
    if (receiver === undefined || receiver === null) throw fail(pos, text, `nil data; no entry for key "${name}"`);
    if (typeof receiver === 'object' && !Array.isArray(receiver)) {
      if (!Object.prototype.hasOwnProperty.call(receiver, name)) throw fail(pos, text, `map has no entry for key "${name}"`);
      return receiver[name];
    }
    throw fail(pos, text, `can't evaluate field ${name} in type ${typeName(receiver)}`);
  };
  const fail = (pos: number, text: string, message: string): TemplateError =>
    new TemplateError(`template: :${where(pos)}: executing "" at <${text}>: ${message}`, 'execute');

  const evalOperand = (op: Operand, dot: Value): Value => {
    if (op.kind === 'literal') return op.value;
    if (op.kind === 'pipeline') return evalPipeline(op.pipeline, dot);
    let v: Value = op.base === 'dot' ? dot : typeof op.base === 'string' ? lookup(op.base, op.pos, op.text) : evalPipeline(op.base, dot);
    for (const name of op.path) v = field(v, name, op.pos, op.text);
    return v;
  };

  const evalCommand = (cmd: Command, dot: Value, piped: Value[]): Value => {
    if (cmd.fn === null) return evalOperand(cmd.args[0]!, dot);
    const args = [...cmd.args.map((a) => evalOperand(a, dot)), ...piped];
    if (options.header && DOCKER_FUNCTIONS.has(cmd.fn)) return args[0];
    try {
      return goFunctions[cmd.fn]!(args, cmd.text);
    } catch (err) {
      if (err instanceof ExecError) throw fail(cmd.pos, cmd.text, err.message);
      throw err;
    }
  };

  const evalPipeline = (p: Pipeline, dot: Value): Value => {
    let value: Value = undefined;
    p.commands.forEach((cmd, i) => {
      value = evalCommand(cmd, dot, i === 0 ? [] : [value]);
    });
    if (p.decl.length === 1) vars[vars.length - 1]![p.decl[0]!] = value;
    return value;
  };

  const run = (nodes: Node[], dot: Value): void => {
    for (const node of nodes) {
      if (node.kind === 'text') out += node.text;
      else if (node.kind === 'action') {
        const v = evalPipeline(node.pipeline, dot);
        if (node.pipeline.decl.length === 0) out += goPrint(v);
      } else if (node.kind === 'if') {
        run(truth(evalPipeline(node.pipeline, dot)) ? node.then : node.otherwise, dot);
      } else if (node.kind === 'with') {
        const v = evalPipeline(node.pipeline, dot);
        if (truth(v)) run(node.then, v);
        else run(node.otherwise, dot);
      } else {
        const decl = node.pipeline.decl;
        const v = evalPipeline({ ...node.pipeline, decl: [] }, dot);
        const entries: [Json, Json][] = Array.isArray(v)
          ? v.map((e, i) => [i, e])
          : v && typeof v === 'object'
            ? Object.keys(v)
                .sort()
                .map((k) => [k, v[k]!])
            : [];
        if (v !== undefined && v !== null && typeof v !== 'object') throw fail(node.pipeline.pos, '', `range can't iterate over ${goPrint(v)}`);
        if (entries.length === 0) {
          run(node.otherwise, dot);
          continue;
        }
        for (const [key, element] of entries) {
          const scope: Record<string, Value> = {};
          if (decl.length === 1) scope[decl[0]!] = element;
          if (decl.length === 2) Object.assign(scope, { [decl[0]!]: key, [decl[1]!]: element });
          vars.push(scope);
          try {
            run(node.then, element);
          } finally {
            vars.pop();
          }
        }
      }
    }
  };
  run(template.nodes, data);
  return out;
}

/** Parses and runs in one go. */
export function renderTemplate(source: string, data: Json, options: ExecuteOptions = {}): string {
  return executeTemplate(parseTemplate(source), data, options);
}
