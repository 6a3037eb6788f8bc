// Entry point of the `horus` command (bin/horus.mjs runs the built main.js, or this file through tsx in a checkout); the commands are in program.ts.
import { main } from './program.js';

await main(process.argv);
