// `npm test` runs this first (npm's pretest): the dashboard's browser test needs Debian's chromium.
// It is installed with apt-get when it can be (root, apt-get present); otherwise the exact command
// is printed, and the browser test skips with the same message (scripts/chromium.mjs). Under
// HORUS_REQUIRE_BROWSER=1 (.ci/run) the browser test never skips: a missing browser fails it.
import { ensureChromium } from './chromium.mjs';

ensureChromium();
