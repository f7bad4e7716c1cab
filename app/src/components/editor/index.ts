'use client';
// The editor, loaded in the browser only (Monaco needs a DOM; its files come from /monaco/vs).
import dynamic from 'next/dynamic';

export const CodeEditor = dynamic(() => import('./CodeEditor').then((m) => m.CodeEditor), { ssr: false });

/** Begins loading the editor and Monaco before there is a file to show in it. */
export function preloadEditor(locale: string): void {
  void import('./CodeEditor').then((m) => m.preloadMonaco(locale)).catch(() => undefined);
}
export type { CodeEditorProps } from './CodeEditor';
export { isDockerfilePath } from './paths';
