'use client';
// The current locale for client widgets, and the switch that changes it. The choice is written to
// a cookie and the server components are re-rendered (router.refresh), so server and client
// always agree on one language.
import { createContext, useCallback, useContext, useMemo, useState, useTransition, type ReactNode } from 'react';
import { useRouter } from 'next/navigation';
import { renderMessage, type ErrorPayload } from '../../../../protocol/errors';
import { LOCALE_COOKIE, LOCALE_COOKIE_MAX_AGE_S, type Locale } from './locale';
import { translator, type MessageTable, type Translate } from './translate';

interface LocaleState {
  locale: Locale;
  setLocale(next: Locale): void;
  switching: boolean;
}

const LocaleContext = createContext<LocaleState | null>(null);

export function LocaleProvider({ initial, children }: { initial: Locale; children: ReactNode }) {
  const router = useRouter();
  const [locale, setState] = useState(initial);
  const [switching, startTransition] = useTransition();
  const setLocale = useCallback(
    (next: Locale) => {
      document.cookie = `${LOCALE_COOKIE}=${next}; path=/; max-age=${LOCALE_COOKIE_MAX_AGE_S}; samesite=lax`;
      document.documentElement.lang = next;
      setState(next);
      startTransition(() => router.refresh());
    },
    [router],
  );
  const value = useMemo(() => ({ locale, setLocale, switching }), [locale, setLocale, switching]);
  return <LocaleContext.Provider value={value}>{children}</LocaleContext.Provider>;
}

export function useLocale(): LocaleState {
  const state = useContext(LocaleContext);
  if (!state) throw new Error('useLocale outside <LocaleProvider>');
  return state;
}

/** A widget's translate function for the current locale: `const t = useT(messages)`. */
export function useT<K extends string>(table: MessageTable<K>): Translate<K> {
  const { locale } = useLocale();
  return useMemo(() => translator(table, locale), [table, locale]);
}

/** Renders an error the engine or gateway sent: a learner error in words, an internal one as an apology with its id. */
export function useErrorText(): (error: ErrorPayload) => string {
  const { locale } = useLocale();
  return useCallback(
    (error: ErrorPayload) =>
      error.kind === 'learner'
        ? renderMessage(error.key, error.facts, locale)
        : renderMessage('internal', { errorId: error.errorId }, locale),
    [locale],
  );
}
