// Entry point of the `horus` command (bin/horus.mjs runs it through tsx); the commands are in program.ts.
import { main } from './program.js';

await main(process.argv);
