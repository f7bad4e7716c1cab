'use client';
// The editor, loaded in the browser only (Monaco needs a DOM; its files come from /monaco/vs).
import dynamic from 'next/dynamic';

export const CodeEditor = dynamic(() => import('./CodeEditor').then((m) => m.CodeEditor), { ssr: false });
export type { CodeEditorProps } from './CodeEditor';
export { isDockerfilePath } from './paths';
