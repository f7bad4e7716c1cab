'use client';
// The build's output in a read-only xterm.js pane. It writes what the store holds that it has
// not written yet, in seq order: each step's header (from build.step) and its log chunks
// (build.log). A new run clears the screen; a reload replays the run from the store, so the
// pane never shows a line twice. Loaded only in the browser (see BuildOutput.tsx).
import { useEffect, useRef, useState } from 'react';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import type { BuildView } from '../../lib/run-store';
import { TERMINAL_FONT_FAMILY, TERMINAL_LINE_HEIGHT, terminalFontReady } from '../../lib/terminal-font';

export interface BuildOutputText {
  step: (s: { step: number; total: number; instruction: string }) => string;
  finished: (b: BuildView) => string;
  failed: (b: BuildView) => string;
}

const BOLD_BLUE = '\x1b[1;34m';
const GREEN = '\x1b[32m';
const RED = '\x1b[31m';
const RESET = '\x1b[0m';

export default function BuildXterm({ runId, build, text, label }: { runId: string | null; build: BuildView | null; text: BuildOutputText; label: string }) {
  const host = useRef<HTMLDivElement>(null);
  const term = useRef<Terminal | null>(null);
  const written = useRef<{ runId: string | null; seq: number; ended: boolean }>({ runId: null, seq: -1, ended: false });

  // xterm measures its cells when it opens: only once the wide face is in (lib/terminal-font.ts).
  const [fontReady, setFontReady] = useState(false);
  useEffect(() => {
    let live = true;
    void terminalFontReady().then(() => live && setFontReady(true));
    return () => {
      live = false;
    };
  }, []);

  useEffect(() => {
    if (!fontReady) return;
    const terminal = new Terminal({
      disableStdin: true,
      convertEol: true,
      cursorBlink: false,
      cursorInactiveStyle: 'none',
      fontSize: 12,
      lineHeight: TERMINAL_LINE_HEIGHT,
      fontFamily: TERMINAL_FONT_FAMILY,
      scrollback: 5000,
      screenReaderMode: false,
      theme: { background: '#161922', foreground: '#e8ebf2', blue: '#8fb5ff', brightBlue: '#a9c6ff', green: '#6fdc9a', red: '#ff8a80', cursor: '#161922' },
    });
    // Read-only: Tab (and Shift+Tab) must move focus on, not into a terminal that takes no input.
    terminal.attachCustomKeyEventHandler((e) => e.key !== 'Tab');
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    terminal.open(host.current!);
    // The e2e suite measures how Korean fits its cells (as it reads the shell's terminal).
    (host.current as HTMLDivElement & { xterm?: Terminal }).xterm = terminal;
    fit.fit();
    term.current = terminal;
    const observer = new ResizeObserver(() => {
      try {
        fit.fit();
      } catch {
        // Hidden (zero size): nothing to fit until it shows again.
      }
    });
    observer.observe(host.current!);
    return () => {
      observer.disconnect();
      terminal.dispose();
      term.current = null;
      written.current = { runId: null, seq: -1, ended: false };
    };
  }, [fontReady]);

  useEffect(() => {
    const terminal = term.current;
    if (!terminal) return;
    const mark = written.current;
    if (mark.runId !== runId) {
      terminal.reset();
      written.current = { runId, seq: -1, ended: false };
    }
    if (!build) return;
    const items: { seq: number; out: string }[] = [];
    for (const s of build.steps) if (s.seq > written.current.seq) items.push({ seq: s.seq, out: `${BOLD_BLUE}${text.step(s)}${RESET}\n` });
    for (const chunk of build.log) if (chunk.seq > written.current.seq) items.push({ seq: chunk.seq, out: chunk.text });
    items.sort((a, b) => a.seq - b.seq);
    let out = items.map((i) => i.out).join('');
    if (items.length > 0) written.current.seq = items.at(-1)!.seq;
    if (!written.current.ended && build.status !== 'running') {
      written.current.ended = true;
      out += build.status === 'finished' ? `${GREEN}${text.finished(build)}${RESET}\n` : `${RED}${text.failed(build)}${RESET}\n`;
    }
    if (out) terminal.write(out);
  }, [runId, build, text, fontReady]);

  return <div ref={host} role="region" aria-label={label} style={{ width: '100%', height: '100%' }} />;
}
