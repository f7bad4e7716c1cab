'use client';
// Two buttons, one per language, the current one pressed (a toggle group is easier to operate and
// announce than a select for two choices). Each names its language in that language.
import { useLocale, useT } from '../../lib/i18n/client';
import { LOCALES } from '../../lib/i18n/locale';
import { messages } from './messages';
import styles from './shell.module.css';

export function LanguageSwitch() {
  const { locale, setLocale, switching } = useLocale();
  const t = useT(messages);
  return (
    <div role="group" aria-label={t('shell.language')} className={styles.langSwitch} aria-busy={switching}>
      {LOCALES.map((option) => (
        <button
          key={option}
          type="button"
          lang={option}
          aria-pressed={option === locale}
          className={styles.langButton}
          onClick={() => option !== locale && setLocale(option)}
        >
          {t(`shell.language.${option}`)}
        </button>
      ))}
    </div>
  );
}
