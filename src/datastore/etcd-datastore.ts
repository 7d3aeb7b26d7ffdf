// etcd v3 backend of the Datastore contract, spoken over etcd's JSON gateway with Node's own http
// module (no client library). Unary calls are POSTs to /v3/kv/*; compare-and-swap is a `txn`
// comparing the key's MOD (or CREATE) revision; watch is one streaming POST to /v3/watch per watcher.
//
//   Datastore call ──POST /v3/kv/{range,txn,compaction}──► etcd (keep-alive; next URL on connect failure)
//   watch ──http POST /v3/watch (JSON lines)──► onEvents; reconnects from the last revision it saw

import http from 'node:http';
import https from 'node:https';
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

export interface EtcdDatastoreOptions {
  /** Deadline of one unary call to one URL (ms). */
  requestTimeoutMs?: number;
  /** How long a broken watch keeps reconnecting before it reports DatastoreError (ms). */
  watchRetryMs?: number;
  /** A watch stream silent for this long is checked with a cheap range call to the same URL (ms). */
  watchProbeMs?: number;
  /** Keys fetched per range call while listing; pages share one pinned revision. */
  pageSize?: number;
}

/** etcd's JSON form of mvccpb.KeyValue: bytes are base64, int64s are strings, defaults omitted. */
interface RawKv {
  key: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
}
interface RawHeader {
  revision?: string;
}
interface RangeResponse {
  header?: RawHeader;
  kvs?: RawKv[];
  more?: boolean;
}
interface TxnResponse {
  header?: RawHeader;
  succeeded?: boolean;
  responses?: Array<{
    response_range?: RangeResponse;
    response_put?: { prev_kv?: RawKv };
  }>;
}
interface WatchMessage {
  result?: {
    header?: RawHeader;
    created?: boolean;
    canceled?: boolean;
    compact_revision?: string;
    cancel_reason?: string;
    events?: Array<{ type?: 'PUT' | 'DELETE'; kv: RawKv }>;
  };
  error?: { message?: string; grpc_code?: number };
}

/** etcd answered, but with an error (HTTP status and gRPC code from the gateway). */
class EtcdServerError extends Error {
  readonly grpcCode: number | undefined;
  constructor(message: string, grpcCode: number | undefined) {
    super(message);
    this.grpcCode = grpcCode;
  }
}

/**
 * Awkward cases handled: several URLs (a connection failure moves on to the next; a write whose
 * request may have reached etcd is never re-sent, its outcome is reported as unknown); a store that
 * is down (DatastoreError within the request timeout, never a hang); lists larger than one page
 * (pages pinned to one revision, restarted if compacted meanwhile); empty values (omitted by
 * etcd's JSON); watch streams that break (reconnect from the last revision seen) or go silent.
 */
export class EtcdDatastore implements Datastore {
  readonly url: string;
  readonly urls: readonly string[];
  readonly #timeoutMs: number;
  readonly #watchRetryMs: number;
  readonly #watchProbeMs: number;
  readonly #pageSize: number;
  #active = 0;
  #closed = false;
  readonly #watches = new Set<EtcdWatch>();
  readonly #endpoints: Endpoint[];

  constructor(urls: string | readonly string[], options: EtcdDatastoreOptions = {}) {
    const list = (typeof urls === 'string' ? urls.split(',') : [...urls]).map((u) => u.trim()).filter(Boolean);
    if (list.length === 0) throw new InvalidError('', 'etcd datastore needs at least one URL');
    for (const u of list) {
      let parsed: URL;
      try {
        parsed = new URL(u);
      } catch {
        throw new InvalidError('', `etcd URL "${u}" is not a URL (expected e.g. "http://127.0.0.1:2379")`);
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        throw new InvalidError('', `etcd URL "${u}" must start with http:// or https://`);
      }
    }
    this.urls = list.map((u) => u.replace(/\/+$/, ''));
    this.url = `etcd:${this.urls.join(',')}`;
    this.#endpoints = this.urls.map(makeEndpoint);
    this.#timeoutMs = options.requestTimeoutMs ?? 5000;
    this.#watchRetryMs = options.watchRetryMs ?? 10_000;
    this.#watchProbeMs = options.watchProbeMs ?? 30_000;
    this.#pageSize = options.pageSize ?? 1000;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    checkKey(key);
    const res = await this.#call<RangeResponse>('/v3/kv/range', { key: b64(key) }, false, `get "${key}"`);
    const kv = res.kvs?.[0];
    return kv && toKeyValue(kv);
  }

  async list(prefix: string): Promise<ListResult> {
    const start = Buffer.from(prefix, 'utf8');
    const end = prefixEnd(start);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#listPages(start, end, prefix);
      } catch (err) {
        // A compaction between two pages of one listing: start over at the new revision.
        if (!(err instanceof CompactedError) || attempt >= 3) throw err;
      }
    }
  }

  async #listPages(start: Buffer, end: Buffer, prefix: string): Promise<ListResult> {
    const items: KeyValue[] = [];
    let revision = 0;
    let from = start.length ? start : Buffer.from([0]);
    for (;;) {
      const body: Record<string, unknown> = {
        key: from.toString('base64'),
        range_end: end.toString('base64'),
        limit: String(this.#pageSize),
      };
      if (revision) body.revision = String(revision);
      const res = await this.#call<RangeResponse>('/v3/kv/range', body, false, `list "${prefix}"`);
      if (!revision) revision = num(res.header?.revision);
      const kvs = res.kvs ?? [];
      for (const kv of kvs) items.push(toKeyValue(kv));
      if (!res.more || kvs.length === 0) return { items, revision };
      from = Buffer.concat([Buffer.from(kvs[kvs.length - 1].key, 'base64'), Buffer.from([0])]);
    }
  }

  async create(key: string, value: string): Promise<KeyValue> {
    checkKey(key);
    const k = b64(key);
    const res = await this.#call<TxnResponse>(
      '/v3/kv/txn',
      {
        compare: [{ key: k, target: 'CREATE', result: 'EQUAL', create_revision: '0' }],
        success: [{ request_put: { key: k, value: b64(value) } }],
        failure: [{ request_range: { key: k } }],
      },
      true,
      `create "${key}"`,
    );
    if (!res.succeeded) {
      const found = res.responses?.[0]?.response_range?.kvs?.[0];
      throw new ExistsError(`Cannot create key "${key}": it already exists (modRevision ${num(found?.mod_revision)})`);
    }
    const rev = num(res.header?.revision);
    return { key, value, createRevision: rev, modRevision: rev };
  }

  async update(key: string, value: string, expectedModRevision?: number): Promise<KeyValue> {
    checkKey(key);
    const k = b64(key);
    const res = await this.#call<TxnResponse>(
      '/v3/kv/txn',
      {
        compare: casCompares(k, expectedModRevision),
        success: [{ request_put: { key: k, value: b64(value), prev_kv: true } }],
        failure: [{ request_range: { key: k } }],
      },
      true,
      `update "${key}"`,
    );
    if (!res.succeeded) throw casFailure('update', key, expectedModRevision, res);
    const prev = res.responses?.[0]?.response_put?.prev_kv;
    const rev = num(res.header?.revision);
    return { key, value, createRevision: num(prev?.create_revision) || rev, modRevision: rev };
  }

  async delete(key: string, expectedModRevision?: number): Promise<number> {
    checkKey(key);
    const k = b64(key);
    const res = await this.#call<TxnResponse>(
      '/v3/kv/txn',
      {
        compare: casCompares(k, expectedModRevision),
        success: [{ request_delete_range: { key: k } }],
        failure: [{ request_range: { key: k } }],
      },
      true,
      `delete "${key}"`,
    );
    if (!res.succeeded) throw casFailure('delete', key, expectedModRevision, res);
    return num(res.header?.revision);
  }

  async revision(): Promise<number> {
    // A point read of the key "\0" (never written by us) is the cheapest way to get a header.
    const res = await this.#call<RangeResponse>('/v3/kv/range', { key: 'AA==' }, false, 'read the revision');
    return num(res.header?.revision);
  }

  async compact(revision: number): Promise<void> {
    if (!Number.isSafeInteger(revision) || revision < 1) {
      throw new InvalidError('', `Cannot compact to revision ${revision}: not a positive integer`);
    }
    try {
      await this.#call('/v3/kv/compaction', { revision: String(revision) }, true, `compact to revision ${revision}`);
    } catch (err) {
      // Compacting to a revision at or below the last compaction is a no-op, as on SQLite.
      if (err instanceof CompactedError) return;
      if (err instanceof DatastoreError && /future revision/.test(err.message)) {
        const current = await this.revision();
        throw new InvalidError('', `Cannot compact to revision ${revision}: the store is at revision ${current}`);
      }
      throw err;
    }
  }

  watch(prefix: string, afterRevision: number, callbacks: WatchCallbacks): WatchHandle {
    this.#checkOpen();
    if (!Number.isSafeInteger(afterRevision) || afterRevision < 0) {
      throw new InvalidError('afterRevision', `must be a revision (an integer ≥ 0), got ${afterRevision}`);
    }
    // The liveness check: a point read on the URL the stream uses, not the store's active URL.
    const probe = (index: number): Promise<unknown> =>
      post(this.#endpoints[index], '/v3/kv/range', '{"key":"AA=="}', this.#timeoutMs);
    const w = new EtcdWatch(this, prefix, afterRevision, callbacks, probe, () => this.#watches.delete(w));
    this.#watches.add(w);
    w.connect();
    return { close: async () => w.close() };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of [...this.#watches]) w.close();
    this.#watches.clear();
    for (const e of this.#endpoints) e.agent.destroy();
  }

  // ---- plumbing shared with EtcdWatch ----

  get watchRetryMs(): number {
    return this.#watchRetryMs;
  }
  get watchProbeMs(): number {
    return this.#watchProbeMs;
  }
  get requestTimeoutMs(): number {
    return this.#timeoutMs;
  }
  get activeIndex(): number {
    return this.#active;
  }

  #checkOpen(): void {
    if (this.#closed) throw new DatastoreError(`etcd datastore "${this.url}" is closed`);
  }

  /**
   * One unary gateway call. Tries each URL from the last one that worked. A write moves on only
   * when the request certainly never left (connection refused, unresolvable host, connect
   * timeout): re-sending one that may have been applied could apply it twice.
   */
  async #call<T>(path: string, body: unknown, write: boolean, what: string): Promise<T> {
    this.#checkOpen();
    const payload = JSON.stringify(body);
    const failures: string[] = [];
    for (let i = 0; i < this.#endpoints.length; i++) {
      const index = (this.#active + i) % this.#endpoints.length;
      const endpoint = this.#endpoints[index];
      let answer: { status: number; text: string };
      try {
        answer = await post(endpoint, path, payload, this.#timeoutMs);
      } catch (err) {
        const { reason, notSent } = describeConnectionError(err, this.#timeoutMs);
        if (write && !notSent) {
          // Not re-sent, but the next call starts at the next URL instead of this silent one.
          this.#active = (index + 1) % this.#endpoints.length;
          throw new DatastoreError(
            `etcd at "${endpoint.base}" did not answer to ${what}: ${reason}; the write may or may not have been applied`,
            { cause: err },
          );
        }
        failures.push(`"${endpoint.base}": ${reason}`);
        continue;
      }
      this.#active = index;
      return parseAnswer<T>(endpoint.base, what, answer.status, answer.text);
    }
    throw new DatastoreError(`Cannot reach etcd at ${failures.join('; at ')}`);
  }
}

/** One etcd URL with its own keep-alive connection pool. */
interface Endpoint {
  base: string;
  url: URL;
  transport: typeof http | typeof https;
  agent: http.Agent;
}

function makeEndpoint(base: string): Endpoint {
  const url = new URL(base);
  const transport = url.protocol === 'https:' ? https : http;
  // Idle keep-alive sockets are unref'd by Node, so an open store does not keep a process alive.
  const agent = new transport.Agent({ keepAlive: true });
  return { base, url, transport, agent };
}

/** Why a request failed, with what is known about whether it can have reached etcd. */
class RequestFailure extends Error {
  readonly code: string | undefined;
  readonly connected: boolean;
  readonly timedOut: boolean;
  constructor(message: string, code: string | undefined, connected: boolean, timedOut: boolean, cause?: unknown) {
    super(message, { cause });
    this.name = 'RequestFailure';
    this.code = code;
    this.connected = connected;
    this.timedOut = timedOut;
  }
}

/**
 * POST over node:http with a keep-alive pool (a third of fetch's CPU per call, and no 100 ms
 * first-call start-up in short-lived processes such as the CNI plugin). A request that fails on a
 * pooled socket the server had already closed, before any answer, is sent once more on a fresh
 * connection: Node's documented remedy for that race, and safe for our writes (all are txns
 * guarded by a compare, so a duplicate can only fail its compare, never apply twice).
 */
async function post(endpoint: Endpoint, path: string, payload: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  try {
    return await postOnce(endpoint, path, payload, timeoutMs);
  } catch (err) {
    if (err instanceof RequestFailure && (err.cause as { reusedSocket?: boolean })?.reusedSocket) {
      return postOnce(endpoint, path, payload, timeoutMs);
    }
    throw err;
  }
}

function postOnce(endpoint: Endpoint, path: string, payload: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let connected = false;
    let timedOut = false;
    let answered = false;
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const req = endpoint.transport.request(
      {
        protocol: endpoint.url.protocol,
        hostname: endpoint.url.hostname,
        port: endpoint.url.port,
        path: endpoint.url.pathname.replace(/\/+$/, '') + path,
        method: 'POST',
        agent: endpoint.agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        answered = true;
        res.setEncoding('utf8');
        let text = '';
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => settle(() => resolve({ status: res.statusCode ?? 0, text })));
        res.on('error', (err) => fail(err));
        res.on('close', () => fail(new Error('connection closed before the answer was complete')));
      },
    );
    const fail = (err: Error): void => {
      const code = (err as NodeJS.ErrnoException).code;
      const retryable = req.reusedSocket && !answered && !timedOut && (code === 'ECONNRESET' || code === 'EPIPE');
      settle(() =>
        reject(new RequestFailure(err.message, code, connected, timedOut, Object.assign(err, { reusedSocket: retryable }))),
      );
    };
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy(new Error('timed out'));
    }, timeoutMs);
    req.on('socket', (socket) => {
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => (connected = true));
    });
    req.on('error', fail);
    req.end(payload);
  });
}

function parseAnswer<T>(base: string, what: string, status: number, text: string): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new DatastoreError(
      `etcd at "${base}" failed to ${what}: HTTP ${status} with a non-JSON body ${JSON.stringify(text.slice(0, 200))}` +
        (status === 404 ? ' (is this etcd 3.4 or newer?)' : ''),
    );
  }
  if (status !== 200) {
    const e = parsed as { error?: string; message?: string; code?: number };
    const message = e.message ?? e.error ?? `HTTP ${status}`;
    if (/required revision has been compacted/.test(message)) {
      throw new CompactedError(`etcd at "${base}" failed to ${what}: ${message}`, 0);
    }
    throw new DatastoreError(`etcd at "${base}" failed to ${what}: ${message}`, {
      cause: new EtcdServerError(message, e.code),
    });
  }
  return parsed as T;
}

/**
 * One watcher: a streaming POST to /v3/watch. After a break it reconnects (next URL, backoff)
 * from the last revision it saw, so nothing is repeated or skipped; it gives up with
 * DatastoreError once reconnecting has failed for watchRetryMs.
 */
class EtcdWatch {
  readonly #store: EtcdDatastore;
  readonly #prefix: string;
  readonly #callbacks: WatchCallbacks;
  readonly #onDone: () => void;
  readonly #probe: (urlIndex: number) => Promise<unknown>;
  readonly #range: { key: string; range_end: string };
  #cursor: number;
  #closed = false;
  #urlIndex: number;
  #generation = 0;
  #request: http.ClientRequest | undefined;
  #established = false;
  #failingSince: number | undefined;
  #attempts = 0;
  #lastData = Date.now();
  #retryTimer: NodeJS.Timeout | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  #probeTimer: NodeJS.Timeout | undefined;
  #lastReason = '';

  constructor(
    store: EtcdDatastore,
    prefix: string,
    afterRevision: number,
    callbacks: WatchCallbacks,
    probe: (urlIndex: number) => Promise<unknown>,
    onDone: () => void,
  ) {
    this.#store = store;
    this.#probe = probe;
    this.#prefix = prefix;
    this.#cursor = afterRevision;
    this.#callbacks = callbacks;
    this.#onDone = onDone;
    this.#urlIndex = store.activeIndex;
    const start = Buffer.from(prefix, 'utf8');
    this.#range = {
      key: (start.length ? start : Buffer.from([0])).toString('base64'),
      range_end: prefixEnd(start).toString('base64'),
    };
  }

  connect(): void {
    if (this.#closed) return;
    const generation = ++this.#generation;
    const base = this.#store.urls[this.#urlIndex];
    const target = new URL('/v3/watch', base);
    const body = JSON.stringify({
      create_request: { ...this.#range, start_revision: String(this.#cursor + 1), progress_notify: true },
    });
    const transport = target.protocol === 'https:' ? https : http;
    this.#established = false;
    const req = transport.request(target, {
      method: 'POST',
      agent: false,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        // Ask etcd to cancel the stream if this member loses its leader (it would go silent).
        'grpc-metadata-hasleader': 'true',
      },
    });
    this.#request = req;
    const broken = (reason: string): void => {
      if (generation === this.#generation) this.#broken(reason);
    };
    // Until etcd confirms the watch ("created"), silence is a failure like a refused connection.
    clearTimeout(this.#connectTimer);
    const connectTimer = setTimeout(
      () => broken(`no answer within ${this.#store.requestTimeoutMs} ms`),
      this.#store.requestTimeoutMs,
    );
    connectTimer.unref();
    this.#connectTimer = connectTimer;
    req.on('socket', (socket) => socket.unref());
    req.on('error', (err) => broken(describeConnectionError(err, this.#store.requestTimeoutMs).reason));
    req.on('response', (res) => {
      res.setEncoding('utf8');
      let buffer = '';
      if (res.statusCode !== 200) {
        res.on('data', (chunk: string) => (buffer += chunk));
        res.on('end', () => broken(`HTTP ${res.statusCode}: ${buffer.slice(0, 200)}`));
        return;
      }
      res.on('data', (chunk: string) => {
        if (generation !== this.#generation) return;
        this.#lastData = Date.now();
        buffer += chunk;
        let start = 0;
        for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n', start)) {
          const line = buffer.slice(start, nl).trim();
          start = nl + 1;
          if (!line) continue;
          let message: WatchMessage;
          try {
            message = JSON.parse(line) as WatchMessage;
          } catch {
            broken(`etcd sent a watch message that is not JSON: ${JSON.stringify(line.slice(0, 200))}`);
            return;
          }
          this.#handle(message, base);
          if (generation !== this.#generation) return;
        }
        buffer = buffer.slice(start);
      });
      res.on('end', () => broken('etcd closed the watch stream'));
      res.on('close', () => broken('etcd closed the watch stream'));
      res.on('error', (err) => broken(describeConnectionError(err, 0).reason));
    });
    req.end(body);
  }

  #handle(message: WatchMessage, base: string): void {
    if (message.error) {
      this.#broken(`etcd watch error: ${message.error.message ?? JSON.stringify(message.error)}`);
      return;
    }
    const r = message.result;
    if (!r) return;
    if (r.canceled) {
      const compactRevision = num(r.compact_revision);
      if (compactRevision > 0) {
        this.#fail(
          new CompactedError(
            `Cannot watch "${this.#prefix}" after revision ${this.#cursor}: history before revision ${compactRevision} was compacted`,
            compactRevision,
          ),
        );
      } else {
        this.#fail(new DatastoreError(`etcd at "${base}" canceled the watch on "${this.#prefix}": ${r.cancel_reason ?? 'no reason given'}`));
      }
      return;
    }
    if (r.created) {
      clearTimeout(this.#connectTimer);
      this.#established = true;
      this.#failingSince = undefined;
      this.#attempts = 0;
      this.#startProbe();
      return;
    }
    const events: WatchEvent[] = [];
    for (const ev of r.events ?? []) {
      const rev = num(ev.kv.mod_revision);
      if (rev <= this.#cursor) continue;
      this.#cursor = rev;
      events.push(
        ev.type === 'DELETE'
          ? { type: 'delete', key: decodeKey(ev.kv.key), modRevision: rev }
          : { type: 'put', kv: toKeyValue(ev.kv) },
      );
    }
    if (events.length > 0) {
      this.#callbacks.onEvents(events);
    } else if (!r.events?.length) {
      // A progress notification: etcd sends these only once every event up to header.revision
      // has been sent on this watcher, so the cursor may move there.
      this.#cursor = Math.max(this.#cursor, num(r.header?.revision));
    }
  }

  #startProbe(): void {
    if (this.#probeTimer) return;
    const every = this.#store.watchProbeMs;
    this.#probeTimer = setInterval(() => {
      if (!this.#established || Date.now() - this.#lastData < every) return;
      const generation = this.#generation;
      this.#probe(this.#urlIndex).then(() => {
          if (generation === this.#generation) this.#lastData = Date.now();
        })
        .catch((err: unknown) => {
          if (generation === this.#generation) {
            this.#broken(`liveness check failed: ${describeConnectionError(err, this.#store.requestTimeoutMs).reason}`);
          }
        });
    }, Math.max(50, Math.floor(every / 2)));
    this.#probeTimer.unref();
  }

  #broken(reason: string): void {
    if (this.#closed) return;
    this.#generation++;
    clearTimeout(this.#connectTimer);
    this.#request?.destroy();
    this.#request = undefined;
    this.#established = false;
    this.#lastReason = `"${this.#store.urls[this.#urlIndex]}": ${reason}`;
    const now = Date.now();
    this.#failingSince ??= now;
    if (now - this.#failingSince >= this.#store.watchRetryMs) {
      this.#fail(
        new DatastoreError(
          `Cannot reach etcd at ${this.#lastReason} (watch on "${this.#prefix}" gave up after ${now - this.#failingSince} ms)`,
        ),
      );
      return;
    }
    this.#urlIndex = (this.#urlIndex + 1) % this.#store.urls.length;
    const wait = this.#attempts === 0 ? 0 : Math.min(1000, 25 * 2 ** this.#attempts);
    this.#attempts++;
    this.#retryTimer = setTimeout(() => this.connect(), wait);
    this.#retryTimer.unref();
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.close();
    this.#callbacks.onError(err);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#generation++;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    clearInterval(this.#probeTimer);
    this.#request?.destroy();
    this.#request = undefined;
    this.#onDone();
  }
}

function casCompares(k: string, expectedModRevision: number | undefined): unknown[] {
  const compares: unknown[] = [{ key: k, target: 'VERSION', result: 'GREATER', version: '0' }];
  if (expectedModRevision !== undefined) {
    compares.push({ key: k, target: 'MOD', result: 'EQUAL', mod_revision: String(expectedModRevision) });
  }
  return compares;
}

function casFailure(op: string, key: string, expected: number | undefined, res: TxnResponse): Error {
  const found = res.responses?.[0]?.response_range?.kvs?.[0];
  if (!found) return new NotFoundError(`Cannot ${op} key "${key}": not found`);
  return new ConflictError(
    `Cannot ${op} key "${key}": expected modRevision ${expected}, found ${num(found.mod_revision)}`,
  );
}

function describeConnectionError(err: unknown, timeoutMs: number): { reason: string; notSent: boolean } {
  if (err instanceof RequestFailure && err.timedOut) {
    // Never connected: the request cannot have reached etcd, so even a write may try elsewhere.
    return err.connected
      ? { reason: `no answer within ${timeoutMs} ms`, notSent: false }
      : { reason: `connect timed out after ${timeoutMs} ms`, notSent: true };
  }
  const e = err as { code?: string; message?: string };
  switch (e?.code) {
    case 'ECONNREFUSED':
      return { reason: 'connection refused', notSent: true };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { reason: 'host not found', notSent: true };
    case 'EHOSTUNREACH':
      return { reason: 'host unreachable', notSent: true };
    case 'ENETUNREACH':
      return { reason: 'network unreachable', notSent: true };
    case 'ECONNRESET':
    case 'EPIPE':
      return { reason: 'connection reset', notSent: false };
    default:
      return { reason: e?.message ?? String(err), notSent: false };
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw new InvalidError('key', 'must be a non-empty string');
}

function toKeyValue(kv: RawKv): KeyValue {
  return {
    key: decodeKey(kv.key),
    value: kv.value ? Buffer.from(kv.value, 'base64').toString('utf8') : '',
    createRevision: num(kv.create_revision),
    modRevision: num(kv.mod_revision),
  };
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function decodeKey(key: string): string {
  return Buffer.from(key, 'base64').toString('utf8');
}

function num(value: string | undefined): number {
  return value ? Number(value) : 0;
}

/** etcd's prefix range end: the prefix with its last byte below 0xff incremented; "\0" means "to the end". */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
