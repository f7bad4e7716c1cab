// The process's start: runs the command line and exits with its status. Apart from main.ts so
// that a test (or the help generator) can import main() without running it.
import { readRecordsAtOnce } from '../image-store/record-io.js';
import { exit, main } from './main.js';
import { watchStdio } from './stdout.js';

// Output goes to fd 1 without process.stdout where nothing else made it (stdout.ts).
watchStdio();
// One command, then exit: the store's small reads need not go through the thread pool.
readRecordsAtOnce();

void main(process.argv).then(exit);
