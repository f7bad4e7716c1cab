// The process's start: runs the command line and exits with its status. Apart from main.ts so
// that a test (or the help generator) can import main() without running it.
import { z } from 'zod';
import { exit, main } from './main.js';

// A command parses each schema a few times and exits: zod's compiled fast path (a `new Function`
// per object schema, built on its first parse) costs more than it saves in so short a life.
z.config({ jitless: true });

void main(process.argv).then(exit);
