// The process's start: runs the command line and exits with its status. Apart from main.ts so
// that a test (or the help generator) can import main() without running it.
import { exit, main } from './main.js';

void main(process.argv).then(exit);
