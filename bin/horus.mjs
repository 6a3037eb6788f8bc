#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, in this process, so `npx horus` works without a build.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
