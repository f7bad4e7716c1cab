// Variable substitution and word splitting as Docker's Dockerfile frontend does them
// (Dockerfile reference, "Environment replacement"): `$NAME`, `${NAME}`, `${NAME:-word}`,
// `${NAME:+word}`, `${NAME-word}`, `${NAME+word}`, `${NAME:?message}`; single quotes keep
// everything literal, double quotes remove themselves but still substitute, and the escape
// character (`\`, or what `# escape=` chose) makes the next character literal.
//
// The builder, not a shell, does this for ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL,
// USER, VOLUME, WORKDIR and ARG; RUN, CMD and ENTRYPOINT are left to the shell in the
// container.

/** Looks a variable up: its value, or undefined when it is not set at all. */
export type Lookup = (name: string) => string | undefined;

export class SubstitutionError extends Error {
  constructor(
    message: string,
    /** Offset in the word where the problem starts. */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'SubstitutionError';
  }
}

const SPECIAL_PARAMETERS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

class WordProcessor {
  private i = 0;

  constructor(
    private readonly word: string,
    private readonly lookup: Lookup,
    private readonly escape: string,
    /** Quotes are plain characters (BuildKit's SkipProcessQuotes, for here-document bodies). */
    private readonly rawQuotes = false,
  ) {}

  /** Processes until `stop` (unquoted, unescaped) or the end; the stop character is consumed. */
  process(stop: string | null): string {
    const { word } = this;
    let out = '';
    while (this.i < word.length) {
      const ch = word[this.i]!;
      if (stop !== null && ch === stop) {
        this.i++;
        return out;
      }
      if (ch === "'" && !this.rawQuotes) out += this.singleQuoted();
      else if (ch === '"' && !this.rawQuotes) out += this.doubleQuoted();
      else if (ch === '$') out += this.dollar();
      else if (ch === this.escape) {
        this.i++;
        // An escape character at the very end is dropped.
        if (this.i < word.length) out += word[this.i++];
      } else {
        out += ch;
        this.i++;
      }
    }
    if (stop !== null) throw new SubstitutionError("syntax error: missing '}'", this.i);
    return out;
  }

  private singleQuoted(): string {
    const start = this.i++;
    const end = this.word.indexOf("'", this.i);
    if (end === -1) throw new SubstitutionError('unexpected end of statement while looking for matching single-quote', start);
    const text = this.word.slice(this.i, end);
    this.i = end + 1;
    return text;
  }

  private doubleQuoted(): string {
    const start = this.i++;
    let out = '';
    while (this.i < this.word.length) {
      const ch = this.word[this.i]!;
      if (ch === '"') {
        this.i++;
        return out;
      }
      if (ch === '$') {
        out += this.dollar();
        continue;
      }
      this.i++;
      if (ch === this.escape) {
        const next = this.word[this.i];
        if (next === undefined) continue;
        // Inside double quotes only these can be escaped; any other escape stays as written.
        if (next === '"' || next === '$' || next === this.escape) {
          out += next;
          this.i++;
          continue;
        }
      }
      out += ch;
    }
    throw new SubstitutionError('unexpected end of statement while looking for matching double-quote', start);
  }

  private name(): string {
    const { word } = this;
    const first = word[this.i];
    if (first === undefined) return '';
    if (/[0-9]/.test(first)) {
      const start = this.i;
      while (this.i < word.length && /[0-9]/.test(word[this.i]!)) this.i++;
      return word.slice(start, this.i);
    }
    if (SPECIAL_PARAMETERS.has(first)) {
      this.i++;
      return first;
    }
    const start = this.i;
    while (this.i < word.length && /[A-Za-z0-9_]/.test(word[this.i]!)) this.i++;
    return word.slice(start, this.i);
  }

  private dollar(): string {
    const start = this.i++;
    if (this.word[this.i] !== '{') {
      const name = this.name();
      return name === '' ? '$' : (this.lookup(name) ?? '');
    }
    this.i++;
    const next = this.word[this.i];
    if (next === undefined) throw new SubstitutionError("syntax error: missing '}'", start);
    if (next === '{' || next === '}' || next === ':') throw new SubstitutionError('syntax error: bad substitution', start);
    const name = this.name();
    const op = this.word[this.i++];
    if (op === undefined) throw new SubstitutionError("syntax error: missing '}'", start);
    if (op === '}') return this.lookup(name) ?? '';
    const colon = op === ':';
    const modifier = colon ? this.word[this.i++] : op;
    if (modifier !== '-' && modifier !== '+' && modifier !== '?') {
      throw new SubstitutionError(`unsupported modifier (${colon ? ':' : ''}${modifier ?? ''}) in substitution`, start);
    }
    const operand = this.process('}');
    const value = this.lookup(name);
    // With a colon, empty counts as unset (as in POSIX shells).
    const present = colon ? value !== undefined && value !== '' : value !== undefined;
    switch (modifier) {
      case '-':
        return present ? value! : operand;
      case '+':
        return present ? operand : '';
      default:
        if (!present) throw new SubstitutionError(`${name}: ${operand || (colon ? 'is not allowed to be unset or empty' : 'is not allowed to be unset')}`, start);
        return value!;
    }
  }
}

/**
 * Substitutes variables in one word and removes its quotes and escapes, as Docker does for the
 * arguments of ADD, COPY, ENV, … Throws SubstitutionError for malformed `${…}` and open quotes.
 */
export function expandWord(word: string, lookup: Lookup, escape = '\\'): string {
  return new WordProcessor(word, lookup, escape).process(null);
}

/**
 * A here-document body of COPY/ADD whose delimiter was not quoted: variables substituted and
 * escapes removed, quotes kept as written (BuildKit expands it so: `echo "hi $NAME"` keeps its quotes).
 */
export function expandHeredoc(text: string, lookup: Lookup, escape = '\\'): string {
  return new WordProcessor(text, lookup, escape, true).process(null);
}

/**
 * Splits on whitespace outside quotes, keeping quotes and escapes in the words (they are
 * removed later, by expandWord). This is how ENV, LABEL and ARG find their name=value pairs.
 */
export function splitWords(text: string, escape = '\\'): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (!inWord) {
      if (/\s/.test(ch)) continue;
      inWord = true;
    }
    if (quote === null && /\s/.test(ch)) {
      words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    if (ch === escape && quote !== "'") {
      word += ch;
      if (i + 1 < text.length) word += text[++i];
      continue;
    }
    if (quote === null && (ch === '"' || ch === "'")) quote = ch;
    else if (ch === quote) quote = null;
    word += ch;
  }
  if (inWord) words.push(word);
  return words;
}

/** Splits on whitespace only: how COPY, ADD, EXPOSE and VOLUME find their words. */
export function splitWhitespace(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== '');
}

/**
 * Records which variables a substitution read, so the cache can tell "a build argument
 * changed" from "the instruction changed".
 */
export function recordingLookup(lookup: Lookup, used: Set<string>): Lookup {
  return (name) => {
    used.add(name);
    return lookup(name);
  };
}
