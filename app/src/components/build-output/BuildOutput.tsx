'use client';
// xterm.js touches `window` when it loads, so the pane is loaded in the browser only.
import dynamic from 'next/dynamic';

export const BuildOutput = dynamic(() => import('./BuildXterm'), { ssr: false });
