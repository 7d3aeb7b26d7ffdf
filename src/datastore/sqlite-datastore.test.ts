// SQLite-only behaviour beyond the shared contract: opening errors, parent directory creation,
// persistence across reopen, several processes creating one fresh file at once, the write-lock
// timeout, long replays and automatic history retention.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { CompactedError, DatastoreError, isBrindleError } from '../lib/index.ts';
import { collect } from './contract.ts';
import { openDatastore } from './open-datastore.ts';
import { SqliteDatastore } from './sqlite-datastore.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('SqliteDatastore', () => {
  let dir: string;
  const open: SqliteDatastore[] = [];
  const track = (s: SqliteDatastore): SqliteDatastore => (open.push(s), s);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'brindle-sqlite-'));
  });
  after(async () => {
    for (const s of open) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a path under a regular file fails with a clear DatastoreError', async () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'not a directory');
    const path = join(file, 'sub', 'brindle.db');
    await assert.rejects(openDatastore(`sqlite:${path}`), (err: Error) => {
      assert.ok(err instanceof DatastoreError, `expected DatastoreError, got ${err}`);
      assert.equal(err.message, `Cannot open SQLite datastore "${path}": a parent of "${join(file, 'sub')}" is not a directory`);
      return true;
    });
  });

  it('a directory or a file that is not a database fails with a clear DatastoreError', () => {
    const asDir = join(dir, 'is-a-dir');
    mkdirSync(asDir);
    assert.throws(() => new SqliteDatastore(asDir), {
      name: 'DatastoreError',
      message: `Cannot open SQLite datastore "${asDir}": the path is a directory`,
    });
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'x'.repeat(4096));
    assert.throws(() => new SqliteDatastore(junk), {
      name: 'DatastoreError',
      message: `Cannot open SQLite datastore "${junk}": the file is not an SQLite database`,
    });
  });

  it('creates parent directories, and data and revisions survive a reopen', async () => {
    const path = join(dir, 'a', 'b', 'c', 'store.db');
    const first = new SqliteDatastore(path);
    assert.equal(first.url, `sqlite:${path}`);
    await first.create('/k', 'v');
    const rev = (await first.update('/k', 'v2')).modRevision;
    await first.close();
    const second = track(new SqliteDatastore(path));
    assert.deepEqual(await second.get('/k'), { key: '/k', value: 'v2', createRevision: rev - 1, modRevision: rev });
    assert.equal(await second.revision(), rev);
    assert.ok((await second.create('/k2', 'x')).modRevision > rev);
  });

  it('several processes opening one fresh file at once all succeed and all their writes land', async () => {
    const path = join(dir, 'fresh', 'race.db');
    const module = pathToFileURL(fileURLToPath(new URL('./open-datastore.ts', import.meta.url))).href;
    const source = `
      const { openDatastore } = await import(${JSON.stringify(module)});
      const store = await openDatastore(process.env.LOCATOR);
      for (let i = 0; i < 20; i++) await store.create('/race/' + process.pid + '/' + i, String(i));
      await store.close();
    `;
    const children = Array.from({ length: 4 }, () =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], {
          cwd: REPO_ROOT,
          env: { ...process.env, LOCATOR: `sqlite:${path}` },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve(child.pid!) : reject(new Error(`child failed (${code}): ${stderr}`))));
      }),
    );
    const pids = await Promise.all(children);
    const store = track(new SqliteDatastore(path));
    const listed = await store.list('/race/');
    assert.equal(listed.items.length, 80);
    assert.equal(listed.revision, 80);
    assert.deepEqual(new Set(listed.items.map((kv) => Number(kv.key.split('/')[2]))), new Set(pids));
  });

  it('a writer blocked by another process longer than busyTimeoutMs gets a DatastoreError naming the lock', async () => {
    const path = join(dir, 'locked.db');
    const store = track(new SqliteDatastore(path, { busyTimeoutMs: 100 }));
    await store.create('/k', '1');
    const holder = new Database(path);
    holder.exec('BEGIN IMMEDIATE');
    try {
      const started = Date.now();
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 5);
      await assert.rejects(store.update('/k', '2'), (err: Error) => {
        assert.ok(err instanceof DatastoreError, `expected DatastoreError, got ${err}`);
        assert.match(err.message, /could not update "\/k": another process held the write lock for more than 100 ms/);
        return true;
      });
      assert.ok(Date.now() - started < 3000);
      // The wait is asynchronous: timers kept firing while the writer waited for the lock.
      assert.ok(ticks >= 10, `event loop blocked while waiting for the lock (${ticks} ticks)`);
      clearInterval(ticker);
      // Reads are not blocked by a writer in WAL mode.
      assert.equal((await store.get('/k'))?.value, '1');
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    assert.equal((await store.update('/k', '2')).value, '2');
  });

  it('a watch replays a history longer than one poll batch completely and in order', async () => {
    const store = track(new SqliteDatastore(join(dir, 'long.db')));
    const start = await store.revision();
    const writes = 2500;
    for (let i = 0; i < writes; i++) await store.create(`/long/${String(i).padStart(5, '0')}`, String(i));
    await store.create('/other/x', 'not watched');
    const w = collect(store, '/long/', start);
    try {
      await w.until(`${writes} events`, () => w.events.length >= writes);
      assert.equal(w.events.length, writes);
      w.events.forEach((e, i) => assert.equal(e.type === 'put' && e.kv.value, String(i)));
    } finally {
      await w.close();
    }
  });

  it('keeps retainRevisions of history: older watches get CompactedError, lists stay complete', async () => {
    const store = track(new SqliteDatastore(join(dir, 'retain.db'), { retainRevisions: 300 }));
    for (let i = 1; i <= 1030; i++) await store.create(`/r/${i}`, String(i));
    assert.equal((await store.list('/r/')).items.length, 1030);
    const old = collect(store, '/r/', 0);
    const recent = collect(store, '/r/', 1000);
    try {
      await old.until('an error', () => old.errors.length > 0);
      const err = old.errors[0];
      assert.ok(err instanceof CompactedError);
      assert.equal(err.compactRevision, 1024 - 300);
      await recent.until('30 events', () => recent.events.length >= 30);
      assert.deepEqual(recent.errors, []);
      // Explicit compaction below the automatic one is a no-op.
      await store.compact(10);
    } finally {
      await old.close();
      await recent.close();
    }
  });

  it('rejects empty keys with InvalidError', async () => {
    const store = track(new SqliteDatastore(join(dir, 'keys.db')));
    await assert.rejects(store.create('', 'x'), (err: Error) => isBrindleError(err, 'E_INVALID'));
  });
});
