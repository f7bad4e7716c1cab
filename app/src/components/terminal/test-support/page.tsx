// A page with nothing but the terminal widget, for the browser test: the real component, the
// real LocaleProvider and the page's one socket. Bundled by esbuild in the test (the only
// stand-in: Next's router, whose refresh the provider calls when the language changes).
//   /terminal-test?container=<id>&locale=en|ko
import { createRoot } from 'react-dom/client';
import { LocaleProvider } from '../../../lib/i18n/client';
import Terminal from '../TerminalXterm';

const params = new URLSearchParams(location.search);
const locale = params.get('locale') === 'ko' ? 'ko' : 'en';
const w = window as unknown as { terminalStates: string[] };
w.terminalStates = [];
createRoot(document.getElementById('root')!).render(
  <LocaleProvider initial={locale}>
    <div style={{ height: '420px', width: '100%' }}>
      <Terminal containerId={params.get('container')!} autoFocus onStatus={(s) => w.terminalStates.push(s.state === 'exited' ? `exited ${s.exitCode}` : s.state)} />
    </div>
  </LocaleProvider>,
);
