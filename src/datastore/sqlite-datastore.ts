// SQLite backend of the Datastore contract: the embedded default for one host or one lab. Many
// processes (CLI, agent, CNI invocations) share one file, so every revision is allocated inside a
// `BEGIN IMMEDIATE` write transaction from the database itself, never from process memory.
//
//   writers ──BEGIN IMMEDIATE──► kv (current values) + changes (one row per revision) + meta
//   watchers ◄── one poller per store: PRAGMA data_version every few ms, then rows with rev > cursor

import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import {
  CompactedError,
  ConflictError,
  DatastoreError,
  ExistsError,
  InvalidError,
  NotFoundError,
  isBrindleError,
} from '../lib/index.ts';
import type {
  Datastore,
  KeyValue,
  ListResult,
  WatchCallbacks,
  WatchEvent,
  WatchHandle,
} from './types.ts';

export const DEFAULT_SQLITE_PATH = '/var/lib/brindle/brindle.db';

const SCHEMA_VERSION = 1;
const READ_RETRY_MS = 5000;
const PUT = 0;
const DELETE = 1;

export interface SqliteDatastoreOptions {
  /**
   * How long a writer waits for another process's write lock before failing (ms). The wait is
   * asynchronous (the event loop keeps running) with short randomised retries.
   */
  busyTimeoutMs?: number;
  /** Watch poll period (ms); each poll is one `PRAGMA data_version` (a few µs). */
  pollIntervalMs?: number;
  /**
   * History kept for watches, in revisions. Every 256th revision drops older change rows, so the
   * file does not grow without bound; a watcher that far behind gets CompactedError and relists.
   * 0 disables automatic compaction.
   */
  retainRevisions?: number;
  /** `full` (default) makes every commit durable across power loss; `normal` only across crashes. */
  synchronous?: 'full' | 'normal';
}

type ChangeRow = [rev: number, key: Buffer, type: number, value: string | null, createRev: number | null];

interface Watcher {
  prefix: string;
  /** Highest revision this watcher has been shown (delivered or skipped as not matching). */
  cursor: number;
  callbacks: WatchCallbacks;
  closed: boolean;
}

/**
 * Awkward cases handled: two processes creating the file at once (schema set-up runs in an
 * IMMEDIATE transaction, all DDL is idempotent); commits by this connection do not change
 * `data_version` (own writes kick the poller directly); a watcher that asks for compacted history,
 * or falls behind a compaction while it is catching up (CompactedError); a watcher replaying a long
 * history (batches, yielding between them); callbacks that close their own or other watches.
 */
export class SqliteDatastore implements Datastore {
  readonly url: string;
  readonly path: string;
  readonly #db: Database.Database;
  readonly #pollIntervalMs: number;
  readonly #retainRevisions: number;
  #closed = false;

  readonly #watchers = new Set<Watcher>();
  #timer: NodeJS.Timeout | undefined;
  #kickPending = false;
  #lastDataVersion = -1;
  #dirty = false;
  #readFailingSince: number | undefined;

  readonly #stmt: Statements;
  readonly #writeTxn: <T>(fn: () => T) => T;
  readonly #busyTimeoutMs: number;
  readonly #readTxn: <T>(fn: () => T) => T;

  constructor(path: string, options: SqliteDatastoreOptions = {}) {
    this.path = resolve(path);
    this.url = `sqlite:${this.path}`;
    this.#pollIntervalMs = options.pollIntervalMs ?? 2;
    this.#busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.#retainRevisions = options.retainRevisions ?? 10_000;
    let db: Database.Database | undefined;
    try {
      ensureParentDirectory(this.path);
      db = new Database(this.path, { timeout: this.#busyTimeoutMs });
      // WAL lets readers (watch pollers, gets) run beside the one writer of the moment.
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
      db.pragma('foreign_keys = OFF');
      initSchema(db);
    } catch (err) {
      db?.close();
      throw new DatastoreError(`Cannot open SQLite datastore "${this.path}": ${reasonOf(err)}`, { cause: err });
    }
    this.#db = db;
    this.#stmt = prepareStatements(db);
    const write = db.transaction((fn: () => unknown) => fn());
    const read = db.transaction((fn: () => unknown) => fn());
    // Writers must not sit in SQLite's own busy handler: it blocks the event loop and sleeps in
    // coarse steps (1, 2, 5, 10 … 100 ms). BEGIN IMMEDIATE runs with no busy wait instead, and
    // #write retries asynchronously.
    const noWait = db.prepare('PRAGMA busy_timeout = 0').pluck();
    const restore = db.prepare(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`).pluck();
    this.#writeTxn = <T>(fn: () => T) => {
      noWait.get();
      try {
        return write.immediate(fn) as T;
      } finally {
        restore.get();
      }
    };
    this.#readTxn = <T>(fn: () => T) => read.deferred(fn) as T;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.#checkKey(key);
    const row = this.#run('get', key, () => this.#stmt.get.get(encodeKey(key)));
    return row && { key, value: row.value, createRevision: row.create_rev, modRevision: row.mod_rev };
  }

  async list(prefix: string): Promise<ListResult> {
    this.#checkOpen();
    return this.#run('list', prefix, () =>
      this.#readTxn(() => {
        const start = encodeKey(prefix);
        const end = prefixEnd(start);
        const rows = end ? this.#stmt.listRange.all(start, end) : this.#stmt.listFrom.all(start);
        return {
          revision: this.#stmt.revision.get() as number,
          items: rows.map(([k, value, createRevision, modRevision]) => ({
            key: k.toString('utf8'),
            value,
            createRevision,
            modRevision,
          })),
        };
      }),
    );
  }

  async create(key: string, value: string): Promise<KeyValue> {
    this.#checkKey(key);
    const k = encodeKey(key);
    return this.#write('create', key, () => {
      const existing = this.#stmt.get.get(k);
      if (existing) {
        throw new ExistsError(`Cannot create key "${key}": it already exists (modRevision ${existing.mod_rev})`);
      }
      const rev = this.#nextRevision();
      this.#stmt.insertKv.run(k, value, rev, rev);
      this.#stmt.insertChange.run(rev, k, PUT, value, rev);
      return { key, value, createRevision: rev, modRevision: rev };
    });
  }

  async update(key: string, value: string, expectedModRevision?: number): Promise<KeyValue> {
    this.#checkKey(key);
    const k = encodeKey(key);
    return this.#write('update', key, () => {
      const existing = this.#stmt.get.get(k);
      if (!existing) throw new NotFoundError(`Cannot update key "${key}": not found`);
      if (expectedModRevision !== undefined && existing.mod_rev !== expectedModRevision) {
        throw new ConflictError(
          `Cannot update key "${key}": expected modRevision ${expectedModRevision}, found ${existing.mod_rev}`,
        );
      }
      const rev = this.#nextRevision();
      this.#stmt.updateKv.run(value, rev, k);
      this.#stmt.insertChange.run(rev, k, PUT, value, existing.create_rev);
      return { key, value, createRevision: existing.create_rev, modRevision: rev };
    });
  }

  async delete(key: string, expectedModRevision?: number): Promise<number> {
    this.#checkKey(key);
    const k = encodeKey(key);
    return this.#write('delete', key, () => {
      const existing = this.#stmt.get.get(k);
      if (!existing) throw new NotFoundError(`Cannot delete key "${key}": not found`);
      if (expectedModRevision !== undefined && existing.mod_rev !== expectedModRevision) {
        throw new ConflictError(
          `Cannot delete key "${key}": expected modRevision ${expectedModRevision}, found ${existing.mod_rev}`,
        );
      }
      const rev = this.#nextRevision();
      this.#stmt.deleteKv.run(k);
      this.#stmt.insertChange.run(rev, k, DELETE, null, null);
      return rev;
    });
  }

  async revision(): Promise<number> {
    this.#checkOpen();
    return this.#run('read the revision', '', () => this.#stmt.revision.get() as number);
  }

  async compact(revision: number): Promise<void> {
    this.#checkOpen();
    await this.#write(`compact to revision ${revision}`, '', () => {
      const current = this.#stmt.revision.get() as number;
      if (!Number.isSafeInteger(revision) || revision > current) {
        throw new InvalidError('', `Cannot compact to revision ${revision}: the store is at revision ${current}`);
      }
      if (revision <= (this.#stmt.compactRevision.get() as number)) return;
      this.#stmt.dropHistory.run(revision);
      this.#stmt.setCompactRevision.run(revision);
    });
  }

  watch(prefix: string, afterRevision: number, callbacks: WatchCallbacks): WatchHandle {
    this.#checkOpen();
    if (!Number.isSafeInteger(afterRevision) || afterRevision < 0) {
      throw new InvalidError('afterRevision', `must be a revision (an integer ≥ 0), got ${afterRevision}`);
    }
    const watcher: Watcher = { prefix, cursor: afterRevision, callbacks, closed: false };
    this.#watchers.add(watcher);
    this.#dirty = true;
    this.#ensurePolling();
    this.#kick();
    return {
      close: async () => {
        watcher.closed = true;
        this.#removeWatcher(watcher);
      },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#watchers) w.closed = true;
    this.#watchers.clear();
    this.#stopPolling();
    this.#db.close();
  }

  // ---- writes ----

  #nextRevision(): number {
    const rev = this.#stmt.bumpRevision.get() as number;
    // Amortised retention: one DELETE of ~256 old rows every 256 revisions, inside this transaction.
    if (this.#retainRevisions > 0 && rev % 256 === 0 && rev > this.#retainRevisions) {
      const keepFrom = rev - this.#retainRevisions;
      if (keepFrom > (this.#stmt.compactRevision.get() as number)) {
        this.#stmt.dropHistory.run(keepFrom);
        this.#stmt.setCompactRevision.run(keepFrom);
      }
    }
    return rev;
  }

  async #write<T>(op: string, key: string, fn: () => T): Promise<T> {
    this.#checkOpen();
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        const result = this.#run(op, key, () => this.#writeTxn(fn));
        // This connection's own commits do not move data_version, so tell the poller directly.
        this.#dirty = true;
        this.#kick();
        return result;
      } catch (err) {
        const busy = err instanceof DatastoreError && isBusy(err.cause);
        if (!busy || Date.now() - started >= this.#busyTimeoutMs) throw err;
      }
      // Another process holds the write lock (typically for well under a millisecond): yield,
      // then back off with jitter so several waiting processes do not retry in lockstep.
      if (attempt < 2) await new Promise((resolve) => setImmediate(resolve));
      else await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 ** (attempt - 2), 8)));
      this.#checkOpen();
    }
  }

  /** Runs fn, turning SQLite failures into DatastoreError; contract errors pass through. */
  #run<T>(op: string, key: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (isBrindleError(err)) throw err;
      const what = key ? `${op} "${key}"` : op;
      if (isBusy(err)) {
        throw new DatastoreError(
          `SQLite datastore "${this.path}" could not ${what}: another process held the write lock for more than ${this.#busyTimeoutMs} ms (${reasonOf(err)})`,
          { cause: err },
        );
      }
      throw new DatastoreError(`SQLite datastore "${this.path}" could not ${what}: ${reasonOf(err)}`, { cause: err });
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new DatastoreError(`SQLite datastore "${this.path}" is closed`);
  }

  #checkKey(key: string): void {
    this.#checkOpen();
    if (typeof key !== 'string' || key === '') throw new InvalidError('key', 'must be a non-empty string');
  }

  // ---- watch delivery ----

  #ensurePolling(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#poll(), this.#pollIntervalMs);
    this.#timer.unref();
  }

  #stopPolling(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #kick(): void {
    if (this.#kickPending || this.#watchers.size === 0) return;
    this.#kickPending = true;
    setImmediate(() => {
      this.#kickPending = false;
      this.#poll();
    }).unref();
  }

  #removeWatcher(w: Watcher): void {
    this.#watchers.delete(w);
    if (this.#watchers.size === 0) this.#stopPolling();
  }

  #poll(): void {
    if (this.#closed || this.#watchers.size === 0) return;
    let version: number;
    try {
      version = this.#stmt.dataVersion.get() as number;
    } catch (err) {
      this.#readFailed(err);
      return;
    }
    if (version === this.#lastDataVersion && !this.#dirty) return;
    this.#lastDataVersion = version;
    this.#dirty = false;
    this.#deliver();
  }

  #deliver(): void {
    const BATCH = 1000;
    let minCursor = Infinity;
    for (const w of this.#watchers) minCursor = Math.min(minCursor, w.cursor);
    let compactRevision: number;
    let rows: ChangeRow[];
    try {
      // One read transaction, so a compaction cannot slip between the two reads.
      [compactRevision, rows] = this.#readTxn(() => [
        this.#stmt.compactRevision.get() as number,
        this.#stmt.changesAfter.all(minCursor, BATCH),
      ]);
    } catch (err) {
      this.#readFailed(err);
      return;
    }
    this.#readFailingSince = undefined;
    const events = rows.map(toEvent);
    const lastRev = rows.length > 0 ? rows[rows.length - 1][0] : undefined;
    for (const w of [...this.#watchers]) {
      if (w.closed) continue;
      // etcd semantics: compacting to C keeps the state at C, so history from C on is still there.
      if (w.cursor + 1 < compactRevision) {
        this.#removeWatcher(w);
        w.closed = true;
        w.callbacks.onError(
          new CompactedError(
            `Cannot watch "${w.prefix}" after revision ${w.cursor}: history before revision ${compactRevision} was compacted`,
            compactRevision,
          ),
        );
        continue;
      }
      if (lastRev === undefined || lastRev <= w.cursor) continue;
      const mine: WatchEvent[] = [];
      for (const ev of events) {
        if (ev.rev > w.cursor && ev.key.startsWith(w.prefix)) mine.push(ev.event);
      }
      w.cursor = lastRev;
      if (mine.length > 0) w.callbacks.onEvents(mine);
    }
    // A full batch means more history is waiting: continue after yielding to the event loop.
    if (rows.length === BATCH) {
      this.#dirty = true;
      this.#kick();
    }
  }

  /**
   * A reader can briefly see SQLITE_BUSY in WAL mode (another process recovering or resetting the
   * WAL): retry on later polls, and end the watches only if it lasts (or for any other error).
   */
  #readFailed(err: unknown): void {
    const code = String((err as { code?: string }).code ?? '');
    const transient = code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
    const now = Date.now();
    this.#readFailingSince ??= now;
    if (transient && now - this.#readFailingSince < READ_RETRY_MS) {
      this.#dirty = true;
      return;
    }
    this.#failAll(err);
  }

  #failAll(err: unknown): void {
    this.#readFailingSince = undefined;
    const watchers = [...this.#watchers];
    this.#watchers.clear();
    this.#stopPolling();
    for (const w of watchers) {
      if (w.closed) continue;
      w.closed = true;
      w.callbacks.onError(
        new DatastoreError(`SQLite datastore "${this.path}" could not read changes for watch "${w.prefix}": ${reasonOf(err)}`, {
          cause: err,
        }),
      );
    }
  }
}

function prepareStatements(db: Database.Database) {
  return {
    get: db.prepare<[Buffer], { value: string; create_rev: number; mod_rev: number }>(
      'SELECT value, create_rev, mod_rev FROM kv WHERE key = ?',
    ),
    listRange: db
      .prepare<[Buffer, Buffer], [Buffer, string, number, number]>(
        'SELECT key, value, create_rev, mod_rev FROM kv WHERE key >= ? AND key < ? ORDER BY key',
      )
      .raw(),
    listFrom: db
      .prepare<[Buffer], [Buffer, string, number, number]>(
        'SELECT key, value, create_rev, mod_rev FROM kv WHERE key >= ? ORDER BY key',
      )
      .raw(),
    revision: db.prepare<[], number>("SELECT value FROM meta WHERE name = 'revision'").pluck(),
    compactRevision: db.prepare<[], number>("SELECT value FROM meta WHERE name = 'compact_revision'").pluck(),
    bumpRevision: db
      .prepare<[], number>("UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value")
      .pluck(),
    setCompactRevision: db.prepare<[number]>("UPDATE meta SET value = ? WHERE name = 'compact_revision'"),
    insertKv: db.prepare<[Buffer, string, number, number]>(
      'INSERT INTO kv (key, value, create_rev, mod_rev) VALUES (?, ?, ?, ?)',
    ),
    updateKv: db.prepare<[string, number, Buffer]>('UPDATE kv SET value = ?, mod_rev = ? WHERE key = ?'),
    deleteKv: db.prepare<[Buffer]>('DELETE FROM kv WHERE key = ?'),
    insertChange: db.prepare<[number, Buffer, number, string | null, number | null]>(
      'INSERT INTO changes (rev, key, type, value, create_rev) VALUES (?, ?, ?, ?, ?)',
    ),
    dropHistory: db.prepare<[number]>('DELETE FROM changes WHERE rev < ?'),
    changesAfter: db
      .prepare<[number, number], ChangeRow>(
        'SELECT rev, key, type, value, create_rev FROM changes WHERE rev > ? ORDER BY rev LIMIT ?',
      )
      .raw(),
    dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

function toEvent([rev, key, type, value, createRev]: ChangeRow): { rev: number; key: string; event: WatchEvent } {
  const k = key.toString('utf8');
  const event: WatchEvent =
    type === DELETE
      ? { type: 'delete', key: k, modRevision: rev }
      : { type: 'put', kv: { key: k, value: value ?? '', createRevision: createRev ?? rev, modRevision: rev } };
  return { rev, key: k, event };
}

function initSchema(db: Database.Database): void {
  // IMMEDIATE: two processes opening a fresh file at once serialise here instead of racing DDL.
  db.transaction(() => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS kv (
        key BLOB PRIMARY KEY, value TEXT NOT NULL, create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS changes (
        rev INTEGER PRIMARY KEY, key BLOB NOT NULL, type INTEGER NOT NULL, value TEXT, create_rev INTEGER
      );
      INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', ${SCHEMA_VERSION}), ('revision', 0), ('compact_revision', 0);
    `);
    const schema = db.prepare("SELECT value FROM meta WHERE name = 'schema'").pluck().get();
    if (schema !== SCHEMA_VERSION) {
      throw new Error(`schema version ${String(schema)} is not the supported version ${SCHEMA_VERSION}`);
    }
  }).immediate();
}

function ensureParentDirectory(path: string): void {
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || code === 'EEXIST') {
      throw new Error(`a parent of "${dir}" is not a directory`, { cause: err });
    }
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new Error(`cannot create directory "${dir}": ${code === 'EROFS' ? 'read-only file system' : 'permission denied'}`, {
        cause: err,
      });
    }
    throw err;
  }
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw new Error('the path is a directory');
}

function reasonOf(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'SQLITE_CANTOPEN') return `unable to open database file (${err.message})`;
    if (code === 'SQLITE_NOTADB') return 'the file is not an SQLite database';
    return err.message;
  }
  return String(err);
}

function encodeKey(key: string): Buffer {
  return Buffer.from(key, 'utf8');
}

/** Smallest byte string greater than every key starting with prefix (etcd's prefix range end). */
function prefixEnd(prefix: Buffer): Buffer | undefined {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return undefined;
}
