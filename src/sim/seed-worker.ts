import { parentPort, workerData } from 'node:worker_threads';
import { drainSeed, runSeed, type SimSpec } from './seed-runner.js';

/**
 * A worker thread of `--workers N`: runs the seeds the main thread posts, one at a time, and posts
 * each outcome back. The spec is fixed for the worker's life (workerData).
 */
const port = parentPort;
if (port === null) throw new Error('seed-worker runs only as a worker thread');
const spec = workerData as SimSpec;
let queue = Promise.resolve();
port.on('message', (seed: number) => {
  queue = queue.then(async () => {
    const outcome = await runSeed(spec, seed);
    port.postMessage({ t: 'outcome', outcome });
    await drainSeed();
  });
});
port.postMessage({ t: 'ready' });
