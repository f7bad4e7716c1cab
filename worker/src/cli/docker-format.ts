// `--format` as Docker's list verbs read it (cli/command/formatter): `table` first means a header
// row and columns through a tabwriter, `\t` and `\n` typed literally are a tab and a newline, and
// each row is the template run over that row's fields, then a newline. Without --format a verb
// uses its default table, so `ps` and `ps --format 'table {{.ID}}…'` print alike.
import { LearnerError } from '../../../protocol/errors.js';
import { tabwrite } from './format.js';
import { executeTemplate, parseTemplate, TemplateError, type Json, type Template } from './go-template.js';
import { printable } from '../../../protocol/printable.js';

export interface ListFormat {
  /** Each field's column header (`ID` → `CONTAINER ID`). */
  headers: Readonly<Record<string, string>>;
  /** What the verb prints without --format. */
  defaultFormat: string;
}

/** A template error as the learner reads it; Docker's English wording, the detail Go's own. */
export function templateError(err: TemplateError, verb: 'inspect' | 'list'): LearnerError {
  return new LearnerError(err.phase === 'execute' && verb === 'list' ? 'template.execute' : 'template.parse', { detail: err.message });
}

export function parseFormat(source: string, verb: 'inspect' | 'list'): Template {
  try {
    return parseTemplate(source);
  } catch (err) {
    throw err instanceof TemplateError ? templateError(err, verb) : err;
  }
}

export function runFormat(template: Template, data: Json, verb: 'inspect' | 'list', header = false): string {
  try {
    return executeTemplate(template, data, { header });
  } catch (err) {
    throw err instanceof TemplateError ? templateError(err, verb) : err;
  }
}

/** The rows printed as `format` says (or the verb's default), with a header when it is a table. */
export function formatList(format: string | undefined, rows: readonly Json[], spec: ListFormat): string {
  let source = format === undefined || format === '' || format === 'table' ? spec.defaultFormat : format;
  const isTable = source.startsWith('table');
  if (isTable) source = source.slice('table'.length);
  source = source.replace(/^ +| +$/g, '').replace(/\\t|\\n/g, (s) => (s === '\\t' ? '\t' : '\n'));
  const template = parseFormat(source, 'list');
  let body = '';
  // Learner-controlled text (names, commands, history) reaches the terminal as no escape, and as
  // no tab or newline that would forge a column or a row; the format's own tabs and newlines stay.
  for (const row of rows) body += `${runFormat(template, printableRow(row), 'list')}\n`;
  if (!isTable) return printable(body, { keepNewlines: true });
  const header = runFormat(template, spec.headers as Json, 'list', true);
  return tabwrite(printable(`${header}\n${body}`, { keepNewlines: true }));
}

function printableRow(value: Json): Json {
  if (typeof value === 'string') return printable(value);
  if (Array.isArray(value)) return value.map(printableRow);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, printableRow(v)]));
  return value;
}
