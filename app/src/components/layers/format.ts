// Durations, countdowns and short ids, in the page's language (sizes: lib/i18n/units.ts).
import type { Locale } from '../../lib/i18n/locale';
import { NBSP } from '../../lib/i18n/units';

export function formatDuration(ms: number, locale: Locale): string {
  if (ms < 1000) return locale === 'ko' ? `${Math.round(ms)}ms` : `${Math.round(ms)}${NBSP}ms`;
  const seconds = ms / 1000;
  if (seconds < 10) return locale === 'ko' ? `${seconds.toFixed(1)}초` : `${seconds.toFixed(1)}${NBSP}s`;
  if (seconds < 60) return locale === 'ko' ? `${Math.round(seconds)}초` : `${Math.round(seconds)}${NBSP}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return locale === 'ko' ? `${m}분${NBSP}${s}초` : `${m}${NBSP}min ${s}${NBSP}s`;
}

/** A countdown: 4:05, or 1:02:03 past an hour. */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

/** `sha256:abcdef…` → `abcdef012345`, as `docker images` shows an id. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
