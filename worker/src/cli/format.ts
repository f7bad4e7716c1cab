// How the command line shows things, in Docker's shapes: its relative times ("2 minutes ago"),
// its sizes (decimal units in `images`, binary ones in `stats`), its truncation with "…", and
// its tables (columns padded like Go's tabwriter, three spaces apart).
import { printable } from '../../../protocol/printable.js';

/** Docker's HumanDuration (go-units): "Less than a second", "About a minute", "3 hours"… */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/** Go's time.Time printed in UTC, as Docker's `CreatedAt` columns show it: 2026-12-01 12:33:54 +0000 UTC. */
export function goTime(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}

/** Go's time.RFC3339 in this machine's zone, whole seconds, as Docker's history dates: 2026-12-01T12:33:54Z, or with +09:00. */
export function rfc3339(iso: string): string {
  const date = new Date(iso);
  const offset = -date.getTimezoneOffset();
  const local = new Date(date.getTime() + offset * 60_000).toISOString().slice(0, 19);
  if (offset === 0) return `${local}Z`;
  const abs = Math.abs(offset);
  return `${local}${offset > 0 ? '+' : '-'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return '';
  return `${humanDuration(now - Date.parse(iso))} ago`;
}

/** `digits` significant digits, no trailing zeros (Go's %.3g): 4.26, 12.3, 512. */
function significant(n: number, digits: number): string {
  return String(Number(n.toPrecision(digits)));
}

/** Decimal sizes as `docker images` prints them: 4.26MB, 1.2kB, 0B (VirtualSize: 4 digits). */
export function humanSize(bytes: number, digits = 3): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let n = bytes;
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${significant(n, digits)}${units[i]}`;
}

/** Binary sizes as `docker stats` prints them: 1.5MiB, 256MiB. */
export function binarySize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${Number(n.toPrecision(4))}${units[i]}`;
}

/** Cuts `text` to `max` characters, the last being "…". */
export function ellipsis(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

// Hangul, CJK and fullwidth forms take two terminal cells, combining marks none.
const WIDE = /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u;
const ZERO = /[\u0300-\u036f\u200b-\u200f]/u;

/** How many terminal cells `text` takes. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) width += ZERO.test(ch) ? 0 : WIDE.test(ch) ? 2 : 1;
  return width;
}

/**
 * Go's tabwriter as Docker's tables use it (minimum width 10, padding 3, spaces): a cell ends at
 * a tab and is padded to its column's width; the last cell of a line, which no tab ends, is not.
 * Widths are terminal cells, not characters (Go's counts runes), so Korean headers line up.
 */
export function tabwrite(text: string): string {
  const lines = text.split('\n').map((line) => line.split('\t'));
  const widths: number[] = [];
  for (const cells of lines) cells.slice(0, -1).forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 10, displayWidth(cell) + 3)));
  return lines.map((cells) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(widths[i]! - displayWidth(cell)))).join('')).join('\n');
}

/** Rows under a header, as Docker's tables print them (tabwrite). Cells are made printable (printable.ts). */
export function table(header: readonly string[], input: readonly (readonly string[])[]): string {
  const rows = input.map((row) => row.map((cell) => printable(cell)));
  return tabwrite([header, ...rows].map((cells) => cells.join('\t')).join('\n') + '\n');
}

/** An image id as the tables show it: 12 hex digits. */
export function shortImageId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
