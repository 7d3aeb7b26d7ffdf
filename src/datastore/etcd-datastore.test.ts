// etcd-only behaviour beyond the shared contract: a store that is down or silent (clear
// DatastoreError, never a hang), several URLs with failover, paged lists, and watches that survive
// an etcd restart or give up cleanly. Needs /usr/bin/etcd (skipped with the reason otherwise).

import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DatastoreError, isBrindleError } from '../lib/index.ts';
import { collect } from './contract.ts';
import { EtcdDatastore } from './etcd-datastore.ts';
import { ETCD_BINARY, etcdAvailable, startEtcd, type EtcdProcess } from './etcd-process.ts';

/** A loopback port nothing listens on (bound once, then released). */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A loopback server that accepts connections and never answers: a hung etcd. */
async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A fake gateway that answers the first request on each connection with keep-alive, and resets
 * the connection on the second: a pooled socket the server dropped, seen only when reused.
 */
async function oneShotServer(): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    let requests = 0;
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString();
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      buffered = buffered.slice(end + 4 + length);
      if (++requests > 1) {
        socket.resetAndDestroy();
        return;
      }
      const body = '{"header":{"revision":"7"}}';
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n${body}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('EtcdDatastore without a running etcd', () => {
  it('a pooled connection the server dropped is retried once on a fresh connection', async () => {
    const server = await oneShotServer();
    const store = new EtcdDatastore(server.url);
    try {
      assert.equal(await store.revision(), 7);
      assert.equal(await store.revision(), 7);
      assert.equal(await store.revision(), 7);
      assert.equal(server.connections(), 3);
    } finally {
      await store.close();
      await server.close();
    }
  });

  it('a down etcd gives DatastoreError quickly with the URL and "connection refused"', async () => {
    const url = `http://127.0.0.1:${await unusedPort()}`;
    const store = new EtcdDatastore(url);
    const started = Date.now();
    for (const call of [() => store.get('/k'), () => store.create('/k', 'v'), () => store.list('/'), () => store.revision()]) {
      await assert.rejects(call(), (err: Error) => {
        assert.ok(err instanceof DatastoreError, `expected DatastoreError, got ${err}`);
        assert.equal(err.message, `Cannot reach etcd at "${url}": connection refused`);
        return true;
      });
    }
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    await store.close();
  });

  it('with several URLs down the message names each of them', async () => {
    const a = `http://127.0.0.1:${await unusedPort()}`;
    const b = `http://127.0.0.1:${await unusedPort()}`;
    const store = new EtcdDatastore(`${a},${b}`);
    assert.equal(store.url, `etcd:${a},${b}`);
    await assert.rejects(store.get('/k'), {
      name: 'DatastoreError',
      message: `Cannot reach etcd at "${a}": connection refused; at "${b}": connection refused`,
    });
    await store.close();
  });

  it('a silent etcd gives DatastoreError after the request timeout; a write says its outcome is unknown', async () => {
    const silent = await silentServer();
    const store = new EtcdDatastore(silent.url, { requestTimeoutMs: 200 });
    try {
      await assert.rejects(store.get('/k'), {
        name: 'DatastoreError',
        message: `Cannot reach etcd at "${silent.url}": no answer within 200 ms`,
      });
      await assert.rejects(store.update('/k', 'v'), {
        name: 'DatastoreError',
        message: `etcd at "${silent.url}" did not answer to update "/k": no answer within 200 ms; the write may or may not have been applied`,
      });
    } finally {
      await store.close();
      await silent.close();
    }
  });

  it('a watch on a down etcd ends with DatastoreError once its retry window is over', async () => {
    const url = `http://127.0.0.1:${await unusedPort()}`;
    const store = new EtcdDatastore(url, { watchRetryMs: 300 });
    const w = collect(store, '/p/', 0);
    try {
      await w.until('an error', () => w.errors.length > 0, 5000);
      const err = w.errors[0];
      assert.ok(err instanceof DatastoreError, `expected DatastoreError, got ${err}`);
      assert.match(err.message, new RegExp(`^Cannot reach etcd at "${url}": connection refused \\(watch on "/p/" gave up after \\d+ ms\\)$`));
    } finally {
      await w.close();
      await store.close();
    }
  });

  it('rejects malformed URLs with InvalidError', () => {
    assert.throws(() => new EtcdDatastore('localhost:2379'), (err: Error) => isBrindleError(err, 'E_INVALID'));
    assert.throws(() => new EtcdDatastore('ftp://127.0.0.1:2379'), /must start with http:\/\/ or https:\/\//);
    assert.throws(() => new EtcdDatastore(''), /at least one URL/);
  });
});

describe('EtcdDatastore against a throwaway etcd', { skip: etcdAvailable() ? false : `${ETCD_BINARY} is not installed` }, () => {
  let etcd: EtcdProcess;
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.stop();
  });

  it('moves on to the next URL when the first refuses connections, for reads and writes', async () => {
    const dead = `http://127.0.0.1:${await unusedPort()}`;
    const store = new EtcdDatastore([dead, etcd.url]);
    try {
      const kv = await store.create('/failover/k', 'v');
      assert.deepEqual(await store.get('/failover/k'), kv);
      assert.equal((await store.update('/failover/k', 'v2', kv.modRevision)).value, 'v2');
    } finally {
      await store.close();
    }
  });

  it('a read moves on past a silent URL; a watch does too', async () => {
    const silent = await silentServer();
    const store = new EtcdDatastore([silent.url, etcd.url], { requestTimeoutMs: 300 });
    try {
      // The watch starts first, so it too begins with the silent URL.
      const w = collect(store, '/silent/', 0);
      await assert.rejects(store.create('/silent/k', 'v'), /may or may not have been applied/);
      assert.equal(await store.get('/silent/k'), undefined, 'the write must not have been re-sent elsewhere');
      const kv = await store.create('/silent/k', 'v');
      await w.until('the event', () => w.events.length >= 1);
      assert.deepEqual(w.events, [{ type: 'put', kv }]);
      await w.close();
    } finally {
      await store.close();
      await silent.close();
    }
  });

  it('lists larger than one page come back complete, sorted and at one revision', async () => {
    const store = new EtcdDatastore(etcd.url, { pageSize: 7 });
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `/paged/${String(i).padStart(2, '0')}`);
      for (const k of [...keys].reverse()) await store.create(k, k);
      await store.create('/paged0', 'outside');
      const listed = await store.list('/paged/');
      assert.deepEqual(listed.items.map((kv) => kv.key), keys);
      assert.equal(listed.revision, await store.revision());
      const all = await store.list('');
      assert.ok(all.items.some((kv) => kv.key === '/paged0'));
    } finally {
      await store.close();
    }
  });

  it('a watch follows etcd through a restart without losing or repeating events', async () => {
    const store = new EtcdDatastore(etcd.url, { watchRetryMs: 15_000 });
    try {
      const start = await store.revision();
      const w = collect(store, '/restart/', start);
      const before = await store.create('/restart/a', '1');
      await w.until('the first event', () => w.events.length >= 1);
      await etcd.restart();
      const afterRestart = [await store.update('/restart/a', '2'), await store.create('/restart/b', '1')];
      await w.until('3 events', () => w.events.length >= 3, 15_000);
      assert.deepEqual(w.events, [
        { type: 'put', kv: before },
        { type: 'put', kv: afterRestart[0] },
        { type: 'put', kv: afterRestart[1] },
      ]);
      assert.deepEqual(w.errors, []);
      await w.close();
    } finally {
      await store.close();
    }
  });

  it('a watch whose etcd stays down ends with DatastoreError, and works again after a new watch', async () => {
    const store = new EtcdDatastore(etcd.url, { watchRetryMs: 500 });
    try {
      const start = await store.revision();
      const w = collect(store, '/down/', start);
      const kv = await store.create('/down/a', '1');
      await w.until('the first event', () => w.events.length >= 1);
      await etcd.pause();
      try {
        await w.until('an error', () => w.errors.length > 0, 10_000);
        assert.ok(w.errors[0] instanceof DatastoreError);
        assert.match(w.errors[0].message, /^Cannot reach etcd at ".*": connection refused \(watch on "\/down\/"/);
      } finally {
        await etcd.restart();
      }
      const again = collect(store, '/down/', kv.modRevision);
      const kv2 = await store.update('/down/a', '2');
      await again.until('the event', () => again.events.length >= 1);
      assert.deepEqual(again.events, [{ type: 'put', kv: kv2 }]);
      await again.close();
    } finally {
      await store.close();
    }
  });
});
