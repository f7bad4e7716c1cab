import type { ReactNode } from 'react';
import type { Metadata, Viewport } from 'next';
import { LocaleProvider } from '../lib/i18n/client';
import { requestLocale } from '../lib/i18n/server';
import { translator } from '../lib/i18n/translate';
import { messages } from '../components/shell/messages';
import './globals.css';

export async function generateMetadata(): Promise<Metadata> {
  const t = translator(messages, await requestLocale());
  return { title: { default: t('shell.product'), template: `%s · ${t('shell.product')}` }, description: t('shell.tagline') };
}

export const viewport: Viewport = { width: 'device-width', initialScale: 1, themeColor: '#0e1016' };

export default async function RootLayout({ children }: { children: ReactNode }) {
  const locale = await requestLocale();
  return (
    <html lang={locale}>
      <body>
        <LocaleProvider initial={locale}>{children}</LocaleProvider>
      </body>
    </html>
  );
}
