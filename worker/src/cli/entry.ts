// The process's start: runs the command line and exits with its status. Apart from main.ts so
// that a test (or the help generator) can import main() without running it.
import { z } from 'zod';
import { readRecordsAtOnce } from '../image-store/record-io.js';
import { exit, main } from './main.js';
import { watchStdio } from './stdout.js';

// A command parses each schema a few times and exits: zod's compiled fast path (a `new Function`
// per object schema, built on its first parse) costs more than it saves in so short a life.
z.config({ jitless: true });
// Output goes to fd 1 without process.stdout where nothing else made it (stdout.ts).
watchStdio();
// One command, then exit: the store's small reads need not go through the thread pool.
readRecordsAtOnce();

void main(process.argv).then(exit);
