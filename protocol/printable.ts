// Learner-controlled text (an image's history and labels, a container's command, file names in a
// diff, names inside a loaded archive, error facts) printed to a terminal must not drive that
// terminal: an OSC 52 sequence writes the clipboard of whoever runs `history`, OSC 0 retitles
// the window, CSI moves the cursor to fake output. Everything the command line prints that such
// text can reach goes through `printable` (tables, diff, inspect, rmi/load lines, errors).
// What a container itself writes (logs, attach, exec, a RUN's output) is passed through as it
// is, as Docker does: it is the program's own terminal output.
//
// Removed: ESC and its sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL|ST`, DCS/SOS/PM/APC
// `ESC P|X|^|_ … ST`, two-byte escapes), their 8-bit C1 forms (U+009B CSI, U+009D OSC, …), and
// every other C0/C1 control and DEL. Tabs and newlines become spaces unless `keepNewlines`.

// A string control sequence's body runs to BEL or ST (ESC \ or U+009C); unterminated, to the end.
const STRING_SEQUENCE = /(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c|$)/g;
// CSI: parameters and intermediates, then one final byte (ECMA-48 §5.4).
const CSI = /(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?/g;
// Any other escape: ESC, optional intermediates, one final character.
const OTHER_ESCAPE = /\x1b[\x20-\x2f]*[\x30-\x7e]?/g;
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

export function printable(text: string, options: { keepNewlines?: boolean } = {}): string {
  const stripped = text.replace(STRING_SEQUENCE, '').replace(CSI, '').replace(OTHER_ESCAPE, '').replace(CONTROLS, '');
  return options.keepNewlines ? stripped.replace(/\r/g, '') : stripped.replace(/[\t\n\r]/g, ' ');
}

/**
 * The same for every string inside a value read from the engine (a job's result, an event), for
 * the page: it shows image names, history, diff paths and error facts outside a terminal, and a
 * shared playground shows them to someone else. Newlines stay (RUN's last lines are multi-line).
 */
export function printableDeep<T>(value: T): T {
  if (typeof value === 'string') return printable(value, { keepNewlines: true }) as T;
  if (Array.isArray(value)) return value.map((item) => printableDeep(item)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, printableDeep(item)])) as T;
  }
  return value;
}
