// Sizes as learners read them, in the page's language (Docker's units: kB, MB). Number and unit
// are joined by a no-break space (NBSP), so "52 B" never breaks across two lines.
import type { Locale } from './locale';

export const NBSP = '\u00a0';

const UNITS = ['B', 'kB', 'MB', 'GB'] as const;

export function formatBytes(bytes: number, locale: Locale): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value)}${NBSP}${UNITS[unit]}`;
}

/** Bytes in the binary units the workspace limits are set in (2 MiB, 10 MiB). */
export function formatBinaryBytes(bytes: number, locale: Locale): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${new Intl.NumberFormat(locale, { maximumFractionDigits: unit === 0 ? 0 : 1 }).format(value)}${NBSP}${units[unit]}`;
}
