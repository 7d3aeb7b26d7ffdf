// The Datastore contract as node:test cases, run against every backend (contract.test.ts runs it
// on SQLite and on a throwaway etcd). A behaviour belongs here when IPAM, the resource store or the
// agent's syncer relies on it; backend-only details live in the backends' own tests.
//
//   runDatastoreContract(name, open) ──► describe(name) { get/list/create/update/delete/CAS/watch/… }

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { isBrindleError, CompactedError, DatastoreError } from '../lib/index.ts';
import { openDatastore } from './open-datastore.ts';
import type { Datastore, KeyValue, WatchEvent, WatchHandle } from './types.ts';

export interface ContractSubject {
  store: Datastore;
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  /** Child processes in the multi-process test, and compare-and-swap increments each makes. */
  processes?: number;
  incrementsPerProcess?: number;
  /** Async callers in one process racing on one counter, and increments each makes. */
  asyncCallers?: number;
  incrementsPerCaller?: number;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OPEN_MODULE = pathToFileURL(fileURLToPath(new URL('./open-datastore.ts', import.meta.url))).href;
const WAIT_MS = 10_000;

/** A watch that records everything and lets a test wait (with a deadline) for a condition. */
export interface Collector {
  events: WatchEvent[];
  errors: Error[];
  until(what: string, done: () => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function collect(store: Datastore, prefix: string, afterRevision: number): Collector {
  const events: WatchEvent[] = [];
  const errors: Error[] = [];
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  const handle: WatchHandle = store.watch(prefix, afterRevision, {
    onEvents(batch) {
      assert.ok(batch.length > 0, 'onEvents was called with an empty batch');
      events.push(...batch);
      wake();
    },
    onError(err) {
      errors.push(err);
      wake();
    },
  });
  return {
    events,
    errors,
    until(what, done, timeoutMs = WAIT_MS) {
      if (done()) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!done()) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `Timed out after ${timeoutMs} ms waiting for ${what} on watch "${prefix}"; ` +
                `saw ${events.length} events ${JSON.stringify(events.slice(-5))} and errors [${errors.map((e) => e.message).join('; ')}]`,
            ),
          );
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
      });
    },
    close: () => handle.close(),
  };
}

/** Read-modify-write with retry on ConflictError: the pattern IPAM uses on blocks. */
export async function casIncrement(store: Datastore, key: string): Promise<number> {
  for (let conflicts = 0; ; conflicts++) {
    const kv = await store.get(key);
    assert.ok(kv, `counter "${key}" vanished`);
    try {
      await store.update(key, String(Number(kv.value) + 1), kv.modRevision);
      return conflicts;
    } catch (err) {
      if (!isBrindleError(err, 'E_CONFLICT')) throw err;
    }
  }
}

// Runs in each child process of the multi-process test (node --import tsx -e ...).
const CHILD_SOURCE = `
const { openDatastore } = await import(process.env.CONTRACT_MODULE);
const store = await openDatastore(process.env.CONTRACT_LOCATOR);
const key = process.env.CONTRACT_KEY;
const count = Number(process.env.CONTRACT_COUNT);
let conflicts = 0;
for (let i = 0; i < count; i++) {
  for (;;) {
    const kv = await store.get(key);
    try { await store.update(key, String(Number(kv.value) + 1), kv.modRevision); break; }
    catch (err) { if (err.code !== 'E_CONFLICT') throw err; conflicts++; }
  }
}
await store.close();
process.stdout.write(JSON.stringify({ conflicts }));
`;

function runChild(locator: string, key: string, count: number): Promise<{ conflicts: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD_SOURCE], {
      cwd: REPO_ROOT,
      env: { ...process.env, CONTRACT_MODULE: OPEN_MODULE, CONTRACT_LOCATOR: locator, CONTRACT_KEY: key, CONTRACT_COUNT: String(count) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`child writer exited with code ${code}: ${err.trim().slice(-2000)}`));
      else resolve(JSON.parse(out) as { conflicts: number });
    });
  });
}

function putValues(events: WatchEvent[]): Array<[string, string]> {
  return events.map((e) => (e.type === 'put' ? [e.kv.key, e.kv.value] : [e.key, '<deleted>']));
}

function eventRevision(e: WatchEvent): number {
  return e.type === 'put' ? e.kv.modRevision : e.modRevision;
}

export function runDatastoreContract(
  name: string,
  open: () => Promise<ContractSubject>,
  options: ContractOptions = {},
): void {
  describe(`datastore contract: ${name}`, () => {
    let subject: ContractSubject | undefined;
    let store: Datastore;
    const extraStores: Datastore[] = [];
    let serial = 0;
    // Each test works under its own prefix, so tests never see each other's keys.
    const space = (): string => `/contract/${process.pid}-${Date.now().toString(36)}-${serial++}/`;

    before(async () => {
      subject = await open();
      store = subject.store;
    });
    after(async () => {
      for (const s of extraStores) await s.close();
      await subject?.cleanup();
    });

    it('get returns undefined for a missing key and the stored value after create', async () => {
      const p = space();
      assert.equal(await store.get(`${p}k`), undefined);
      const before = await store.revision();
      const created = await store.create(`${p}k`, '{"a":1}');
      assert.ok(created.modRevision > before, 'create must advance the revision');
      assert.equal(created.createRevision, created.modRevision);
      assert.deepEqual(await store.get(`${p}k`), created);
      assert.deepEqual(created, { key: `${p}k`, value: '{"a":1}', createRevision: created.modRevision, modRevision: created.modRevision });
    });

    it('create fails with ExistsError when the key is present, and changes nothing', async () => {
      const p = space();
      const first = await store.create(`${p}k`, 'one');
      await assert.rejects(store.create(`${p}k`, 'two'), (err: Error) => {
        assert.ok(isBrindleError(err, 'E_EXISTS'), `expected E_EXISTS, got ${err}`);
        assert.match(err.message, new RegExp(`"${p}k"`));
        return true;
      });
      assert.deepEqual(await store.get(`${p}k`), first);
    });

    it('list returns the keys under a prefix sorted by bytes, nothing else, and a consistent revision', async () => {
      const p = space();
      for (const k of ['list/b', 'list/é', 'list/a/x', 'list', 'list0', 'lisu', 'list/z', 'list/a', 'other/a']) {
        await store.create(`${p}${k}`, `v:${k}`);
      }
      const result = await store.list(`${p}list/`);
      assert.deepEqual(
        result.items.map((kv) => kv.key),
        ['list/a', 'list/a/x', 'list/b', 'list/z', 'list/é'].map((k) => `${p}${k}`),
      );
      for (const kv of result.items) assert.equal(kv.value, `v:${kv.key.slice(p.length)}`);
      assert.equal(result.revision, await store.revision());
      assert.ok(result.items.every((kv) => kv.modRevision <= result.revision));
      // A prefix without a trailing slash matches by bytes, like etcd.
      assert.deepEqual(
        (await store.list(`${p}list`)).items.map((kv) => kv.key.slice(p.length)),
        ['list', 'list/a', 'list/a/x', 'list/b', 'list/z', 'list/é', 'list0'],
      );
      const empty = await store.list(`${p}nothing/`);
      assert.deepEqual(empty.items, []);
      assert.equal(empty.revision, result.revision);
    });

    it('update replaces the value with or without a matching modRevision and keeps createRevision', async () => {
      const p = space();
      const created = await store.create(`${p}k`, 'v1');
      const u1 = await store.update(`${p}k`, 'v2');
      assert.ok(u1.modRevision > created.modRevision);
      assert.equal(u1.createRevision, created.createRevision);
      const u2 = await store.update(`${p}k`, 'v3', u1.modRevision);
      assert.ok(u2.modRevision > u1.modRevision);
      assert.deepEqual(u2, { key: `${p}k`, value: 'v3', createRevision: created.createRevision, modRevision: u2.modRevision });
      assert.deepEqual(await store.get(`${p}k`), u2);
    });

    it('update fails with ConflictError on a stale modRevision and NotFoundError on a missing key', async () => {
      const p = space();
      const created = await store.create(`${p}k`, 'v1');
      const current = await store.update(`${p}k`, 'v2');
      await assert.rejects(store.update(`${p}k`, 'lost', created.modRevision), (err: Error) => {
        assert.ok(isBrindleError(err, 'E_CONFLICT'), `expected E_CONFLICT, got ${err}`);
        assert.match(err.message, new RegExp(`"${p}k".*${created.modRevision}.*${current.modRevision}`));
        return true;
      });
      assert.deepEqual(await store.get(`${p}k`), current);
      await assert.rejects(store.update(`${p}missing`, 'x'), (err: Error) => isBrindleError(err, 'E_NOT_FOUND'));
      await assert.rejects(store.update(`${p}missing`, 'x', current.modRevision), (err: Error) =>
        isBrindleError(err, 'E_NOT_FOUND'),
      );
      assert.equal(await store.get(`${p}missing`), undefined, 'a failed update must not create the key');
    });

    it('delete removes the key, honours modRevision and fails on missing keys', async () => {
      const p = space();
      const a = await store.create(`${p}a`, 'x');
      const b = await store.create(`${p}b`, 'y');
      const rev = await store.delete(`${p}a`);
      assert.ok(rev > b.modRevision);
      assert.equal(await store.get(`${p}a`), undefined);
      await assert.rejects(store.delete(`${p}a`), (err: Error) => {
        assert.ok(isBrindleError(err, 'E_NOT_FOUND'), `expected E_NOT_FOUND, got ${err}`);
        assert.match(err.message, new RegExp(`"${p}a"`));
        return true;
      });
      await assert.rejects(store.delete(`${p}b`, a.modRevision), (err: Error) => isBrindleError(err, 'E_CONFLICT'));
      assert.deepEqual(await store.get(`${p}b`), b);
      const rev2 = await store.delete(`${p}b`, b.modRevision);
      assert.ok(rev2 > rev);
      assert.equal(await store.revision(), rev2);
    });

    it('a key deleted and created again gets a new createRevision', async () => {
      const p = space();
      const first = await store.create(`${p}k`, 'x');
      await store.delete(`${p}k`);
      const second = await store.create(`${p}k`, 'x');
      assert.ok(second.createRevision > first.createRevision);
      assert.equal(second.createRevision, second.modRevision);
    });

    it('revisions increase across keys and revision() reports the latest write', async () => {
      const p = space();
      const seen: number[] = [await store.revision()];
      for (let i = 0; i < 5; i++) {
        seen.push((await store.create(`${p}k${i}`, String(i))).modRevision);
        seen.push((await store.update(`${p}k${i}`, `${i}!`)).modRevision);
      }
      seen.push(await store.delete(`${p}k0`));
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i] > seen[i - 1], `revisions not increasing: ${seen}`);
      assert.equal(await store.revision(), seen[seen.length - 1]);
    });

    it('keys and values round-trip unchanged', async () => {
      const p = space();
      const cases: Array<[string, string]> = [
        [`${p}plain`, '{"kind":"IPPool","spec":{"cidr":"10.65.0.0/16"}}'],
        [`${p}with space/and%2F+plus?&=#`, 'value with\nnewline\tand "quotes" and \\ backslash'],
        [`${p}ünïcødé/键/🐝`, 'ünïcødé 键 🐝'],
        [`${p}empty-value`, ''],
        [`${p}big`, JSON.stringify({ data: 'x'.repeat(200_000) })],
      ];
      for (const [k, v] of cases) await store.create(k, v);
      for (const [k, v] of cases) assert.equal((await store.get(k))?.value, v, `value of "${k.slice(0, 60)}"`);
      const listed = await store.list(p);
      assert.deepEqual(
        new Map(listed.items.map((kv) => [kv.key, kv.value])),
        new Map(cases),
      );
    });

    it('watch from a revision replays history, then follows live changes in order', async () => {
      const p = space();
      const start = await store.revision();
      const c1 = await store.create(`${p}a`, '1');
      const u1 = await store.update(`${p}a`, '2', c1.modRevision);
      const c2 = await store.create(`${p}b`, '1');
      const d1 = await store.delete(`${p}a`);
      const w = collect(store, p, start);
      try {
        await w.until('4 replayed events', () => w.events.length >= 4);
        assert.deepEqual(w.events, [
          { type: 'put', kv: c1 },
          { type: 'put', kv: u1 },
          { type: 'put', kv: c2 },
          { type: 'delete', key: `${p}a`, modRevision: d1 },
        ]);
        const live: Array<KeyValue | number> = [];
        live.push(await store.update(`${p}b`, '2'));
        live.push(await store.create(`${p}c`, '1'));
        live.push(await store.delete(`${p}b`));
        await w.until('3 live events', () => w.events.length >= 7);
        assert.deepEqual(w.events.slice(4), [
          { type: 'put', kv: live[0] },
          { type: 'put', kv: live[1] },
          { type: 'delete', key: `${p}b`, modRevision: live[2] },
        ]);
        assert.deepEqual(w.errors, []);
        const revs = w.events.map(eventRevision);
        for (let i = 1; i < revs.length; i++) assert.ok(revs[i] > revs[i - 1], `watch revisions out of order: ${revs}`);
      } finally {
        await w.close();
      }
    });

    it('watch from the current revision sees only later changes', async () => {
      const p = space();
      await store.create(`${p}old`, 'x');
      const w = collect(store, p, await store.revision());
      try {
        const kv = await store.create(`${p}new`, 'y');
        await w.until('the new key', () => w.events.length >= 1);
        assert.deepEqual(w.events, [{ type: 'put', kv }]);
      } finally {
        await w.close();
      }
    });

    it('watch of a prefix ignores keys outside it', async () => {
      const p = space();
      const start = await store.revision();
      const w = collect(store, `${p}a/`, start);
      try {
        await store.create(`${p}b/k`, 'no');
        await store.create(`${p}a0`, 'no');
        await store.create(`${p}a`, 'no');
        const mine = await store.create(`${p}a/k`, 'yes');
        await store.create(`${p}ab/k`, 'no');
        const last = await store.create(`${p}a/z`, 'yes');
        await w.until('2 events under the prefix', () => w.events.length >= 2);
        assert.deepEqual(w.events, [
          { type: 'put', kv: mine },
          { type: 'put', kv: last },
        ]);
      } finally {
        await w.close();
      }
    });

    it('two watchers on one prefix each see every event, and closing one leaves the other running', async () => {
      const p = space();
      const start = await store.revision();
      const w1 = collect(store, p, start);
      const w2 = collect(store, p, start);
      try {
        for (let i = 0; i < 10; i++) await store.create(`${p}k${i}`, String(i));
        await w1.until('10 events', () => w1.events.length >= 10);
        await w2.until('10 events', () => w2.events.length >= 10);
        assert.deepEqual(w1.events, w2.events);
        assert.deepEqual(putValues(w1.events).map(([, v]) => v), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
        await w1.close();
        await store.create(`${p}after`, 'x');
        await w2.until('the 11th event', () => w2.events.length >= 11);
        assert.equal(w1.events.length, 10);
      } finally {
        await w1.close();
        await w2.close();
      }
    });

    it('watch rejects a revision that is not an integer ≥ 0', () => {
      const noop = { onEvents() {}, onError() {} };
      for (const bad of [-1, 1.5, Number.NaN]) {
        assert.throws(() => store.watch('/x/', bad, noop), (err: Error) => isBrindleError(err, 'E_INVALID'));
      }
    });

    it('close stops delivery', async () => {
      const p = space();
      const start = await store.revision();
      const closed = collect(store, p, start);
      const barrier = collect(store, p, start);
      try {
        await store.create(`${p}first`, '1');
        await closed.until('the first event', () => closed.events.length >= 1);
        await closed.close();
        for (let i = 0; i < 5; i++) await store.create(`${p}later${i}`, String(i));
        // The barrier watch has seen every later write, so a live closed watch would have too.
        await barrier.until('6 events', () => barrier.events.length >= 6);
        assert.equal(closed.events.length, 1);
        assert.deepEqual(closed.errors, []);
      } finally {
        await closed.close();
        await barrier.close();
      }
    });

    it('watch from before a compaction fails with CompactedError; from the compaction revision on it works', async () => {
      const p = space();
      const r0 = await store.revision();
      const a = await store.create(`${p}k`, '1');
      const b = await store.update(`${p}k`, '2');
      const c = await store.update(`${p}k`, '3');
      await store.compact(c.modRevision);
      const stale = collect(store, p, r0);
      const edge = collect(store, p, c.modRevision - 1);
      const fresh = collect(store, p, c.modRevision);
      try {
        await stale.until('an error', () => stale.errors.length > 0);
        const err = stale.errors[0];
        assert.ok(err instanceof CompactedError, `expected CompactedError, got ${err}`);
        assert.equal(err.code, 'E_COMPACTED');
        assert.equal(err.compactRevision, c.modRevision);
        assert.deepEqual(stale.events, []);
        // etcd keeps the state at the compaction revision, so history from there on survives.
        await edge.until('the event at the compaction revision', () => edge.events.length >= 1);
        assert.deepEqual(edge.events, [{ type: 'put', kv: c }]);
        const d = await store.update(`${p}k`, '4');
        await fresh.until('the live event', () => fresh.events.length >= 1);
        assert.deepEqual(fresh.events, [{ type: 'put', kv: d }]);
        await edge.until('the live event', () => edge.events.length >= 2);
        assert.deepEqual(edge.errors, []);
        assert.ok(a.modRevision < b.modRevision);
      } finally {
        await stale.close();
        await edge.close();
        await fresh.close();
      }
    });

    it('compact to an old revision is a no-op and to a future revision is rejected', async () => {
      const p = space();
      const kv = await store.create(`${p}k`, '1');
      await store.compact(kv.modRevision);
      await store.compact(kv.modRevision); // again: nothing to do, no error
      await store.compact(kv.modRevision - 1);
      const future = (await store.revision()) + 1000;
      await assert.rejects(store.compact(future), (err: Error) => {
        assert.ok(isBrindleError(err, 'E_INVALID'), `expected E_INVALID, got ${err}`);
        assert.match(err.message, new RegExp(String(future)));
        return true;
      });
      assert.deepEqual(await store.get(`${p}k`), kv);
    });

    it('concurrent compare-and-swap increments from many async callers lose no update', async () => {
      const p = space();
      const key = `${p}counter`;
      await store.create(key, '0');
      const callers = options.asyncCallers ?? 16;
      const each = options.incrementsPerCaller ?? 15;
      const conflicts = await Promise.all(
        Array.from({ length: callers }, async () => {
          let total = 0;
          for (let i = 0; i < each; i++) total += await casIncrement(store, key);
          return total;
        }),
      );
      assert.equal((await store.get(key))?.value, String(callers * each), `conflicts retried: ${conflicts}`);
    });

    it('a second client of the same store sees writes and conflicts with the first', async () => {
      const p = space();
      const other = await openDatastore(store.url);
      extraStores.push(other);
      assert.equal(other.url, store.url);
      const kv = await store.create(`${p}k`, 'from first');
      assert.deepEqual(await other.get(`${p}k`), kv);
      const w = collect(other, p, kv.modRevision);
      try {
        const u = await other.update(`${p}k`, 'from second', kv.modRevision);
        await assert.rejects(store.update(`${p}k`, 'stale', kv.modRevision), (err: Error) => isBrindleError(err, 'E_CONFLICT'));
        assert.deepEqual(await store.get(`${p}k`), u);
        const u2 = await store.update(`${p}k`, 'first again', u.modRevision);
        await w.until('2 events', () => w.events.length >= 2);
        assert.deepEqual(w.events, [
          { type: 'put', kv: u },
          { type: 'put', kv: u2 },
        ]);
      } finally {
        await w.close();
      }
    });

    it('operations on a closed store fail with DatastoreError', async () => {
      const p = space();
      const other = await openDatastore(store.url);
      await other.close();
      await assert.rejects(other.get(`${p}k`), (err: Error) => {
        assert.ok(err instanceof DatastoreError, `expected DatastoreError, got ${err}`);
        assert.match(err.message, /closed/);
        return true;
      });
      await assert.rejects(other.create(`${p}k`, 'x'), DatastoreError);
      assert.equal(await store.get(`${p}k`), undefined);
    });

    it('compare-and-swap increments from several processes lose no update, and a watch here sees each one in order', async () => {
      const processes = options.processes ?? 4;
      const each = options.incrementsPerProcess ?? 200;
      const total = processes * each;
      const p = space();
      const key = `${p}counter`;
      const created = await store.create(key, '0');
      const w = collect(store, p, created.modRevision);
      try {
        const results = await Promise.all(Array.from({ length: processes }, () => runChild(store.url, key, each)));
        assert.equal((await store.get(key))?.value, String(total), `conflicts per process: ${results.map((r) => r.conflicts)}`);
        await w.until(`${total} events`, () => w.events.length >= total, 30_000);
        assert.deepEqual(w.errors, []);
        assert.equal(w.events.length, total);
        w.events.forEach((e, i) => {
          assert.equal(e.type, 'put');
          assert.equal(e.type === 'put' && e.kv.value, String(i + 1), `event ${i} out of order`);
        });
      } finally {
        await w.close();
      }
    });
  });
}
