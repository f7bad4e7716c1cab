// The site's header: product name (home link), the main navigation, the session status slot
// (the playground puts its session timer there) and the language switch.
import type { ReactNode } from 'react';
import Link from 'next/link';
import type { Locale } from '../../lib/i18n/locale';
import { translator } from '../../lib/i18n/translate';
import { LanguageSwitch } from './LanguageSwitch';
import { messages } from './messages';
import styles from './shell.module.css';

export function Header({ locale, current, status }: { locale: Locale; current: 'course' | 'play'; status?: ReactNode }) {
  const t = translator(messages, locale);
  return (
    <header className={styles.header}>
      <a href="#main" className={styles.skip}>{t('shell.skip')}</a>
      <Link href="/" className={styles.brand} aria-label={t('shell.home')}>
        <Logo />
        <span>{t('shell.product')}</span>
      </Link>
      <nav aria-label={t('shell.nav')} className={styles.nav}>
        <Link href="/" aria-current={current === 'course' ? 'page' : undefined}>{t('shell.nav.course')}</Link>
        <Link href="/play" aria-current={current === 'play' ? 'page' : undefined}>{t('shell.nav.play')}</Link>
      </nav>
      <div className={styles.spacer} />
      {status !== undefined && (
        <section aria-label={t('shell.sessionStatus')} className={styles.status}>{status}</section>
      )}
      <LanguageSwitch />
    </header>
  );
}

/** Three stacked layers: the product's mark. Decorative; the link carries the name. */
function Logo() {
  return (
    <svg width="22" height="22" viewBox="0 0 22 22" aria-hidden="true" focusable="false">
      <rect x="2" y="14" width="18" height="5" rx="1.5" fill="var(--layer-1)" />
      <rect x="4" y="8.5" width="14" height="5" rx="1.5" fill="var(--layer-2)" />
      <rect x="6" y="3" width="10" height="5" rx="1.5" fill="var(--layer-3)" />
    </svg>
  );
}
