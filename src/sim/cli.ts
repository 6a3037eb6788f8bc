// `npm run sim -- ARGS` before it became `horus sim`: the same command, so the flags are parsed in
// one place (src/cli/sim-options.ts) and work alike either way. Kept for scripts that run this file.
import { main } from '../cli/program.js';

await main([process.argv[0]!, 'horus', 'sim', ...process.argv.slice(2)]);
