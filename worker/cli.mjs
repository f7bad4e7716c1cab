#!/usr/bin/env node
// `layercake` (the package's bin): the command line is TypeScript, run through tsx so a checkout
// needs no build step — `npx layercake ps` works right after `npm install`.
import { register } from 'tsx/esm/api';

register();
await import('./src/cli/main.ts');
