'use client';
// xterm.js touches `window` when it loads, so the terminal is loaded in the browser only:
//   <Terminal containerId={id} />            (see README.md)
import dynamic from 'next/dynamic';
import type { TerminalProps } from './TerminalXterm';

export type { TerminalProps } from './TerminalXterm';
export type { TerminalStatus } from './terminal-connection';

export const Terminal = dynamic<TerminalProps>(() => import('./TerminalXterm'), { ssr: false });
