import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { baseUrlArg, endpointArg, endpointList, intIn, numberIn } from '../../../src/cli/args.js';
import { requestJson, RemoteError, throwIfError } from '../../../src/cli/http-client.js';
import { HorusError } from '../../../src/core/errors.js';
import { closedPort } from './helpers.js';

const rejects = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof InvalidArgumentError && re.test(e.message));

describe('argument parsers', () => {
  it('endpoints: HOST:PORT, port 0 only where allowed, loopback where required', () => {
    assert.equal(endpointArg()('127.0.0.1:7001'), '127.0.0.1:7001');
    assert.equal(endpointArg({ portZero: true })('127.0.0.1:0'), '127.0.0.1:0');
    rejects(() => endpointArg()('127.0.0.1:0'), /from 1 to 65535/);
    rejects(() => endpointArg()('7001'), /expected HOST:PORT/);
    rejects(() => endpointArg({ loopback: true })('0.0.0.0:7070'), /loopback/);
    assert.equal(endpointArg({ loopback: true })('[::1]:7070'), '[::1]:7070');
    assert.deepEqual(endpointList('127.0.0.1:1, 127.0.0.1:2', ['127.0.0.1:3']), ['127.0.0.1:3', '127.0.0.1:1', '127.0.0.1:2']);
  });

  it('base URLs: HOST:PORT or http://HOST:PORT on loopback, normalised with a trailing slash', () => {
    assert.equal(baseUrlArg('127.0.0.1:7070'), 'http://127.0.0.1:7070/');
    assert.equal(baseUrlArg('http://localhost:7080/'), 'http://localhost:7080/');
    rejects(() => baseUrlArg('https://127.0.0.1:7070'), /expected HOST:PORT/);
    rejects(() => baseUrlArg('http://127.0.0.1:7070/api'), /expected HOST:PORT/);
    rejects(() => baseUrlArg('http://example.com:8080'), /loopback/);
  });

  it('numbers within bounds', () => {
    assert.equal(intIn(1, 16)('3'), 3);
    rejects(() => intIn(1, 16)('3.5'), /integer from 1 to 16/);
    rejects(() => intIn(1, 16)(''), /integer/);
    assert.equal(numberIn(0, 0.5)('0.05'), 0.05);
    rejects(() => numberIn(0, 0.5)('NaN'), /number from 0 to 0\.5/);
  });
});

describe('admin HTTP client errors', () => {
  it('nothing listening: ERR_CLOSED', async () => {
    const base = `http://127.0.0.1:${await closedPort()}/`;
    await assert.rejects(requestJson(base, '/api/status'), (e: unknown) => e instanceof HorusError && e.code === 'ERR_CLOSED');
  });

  it('something else answering: ERR_PROTOCOL', async () => {
    const srv = http.createServer((_req, res) => res.end('<html>hello</html>'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/`;
      await assert.rejects(
        requestJson(base, '/api/status'),
        (e: unknown) => e instanceof HorusError && e.code === 'ERR_PROTOCOL' && /is it a Horus node\?/.test(e.message),
      );
    } finally {
      srv.close();
    }
  });

  it('an error answer becomes a RemoteError with its code', () => {
    assert.throws(
      () => throwIfError({ status: 404, body: { error: { code: 'ERR_UNKNOWN_GROUP', message: 'no such group' } } }, 'x'),
      (e: unknown) => e instanceof RemoteError && e.code === 'ERR_UNKNOWN_GROUP' && e.status === 404,
    );
    assert.throws(
      () => throwIfError({ status: 500, body: 'oops' }, 'x'),
      (e: unknown) => e instanceof RemoteError && e.code === 'ERR_PROTOCOL',
    );
  });
});
