import type { Metadata } from 'next';
import { Header } from '../../components/shell/Header';
import { Playground } from '../../components/playground';
import { messages } from '../../components/playground/messages';
import { PlaySessionProvider } from '../../components/session/PlaySession';
import { SessionTimer } from '../../components/session/SessionTimer';
import { requestLocale } from '../../lib/i18n/server';
import { translator } from '../../lib/i18n/translate';

export async function generateMetadata(): Promise<Metadata> {
  return { title: translator(messages, await requestLocale())('playground.title') };
}

export default async function Play() {
  const locale = await requestLocale();
  return (
    <PlaySessionProvider>
      <Header locale={locale} current="play" status={<SessionTimer />} />
      <Playground />
    </PlaySessionProvider>
  );
}
