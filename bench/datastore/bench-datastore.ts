// Datastore benchmark: our SQLite and etcd backends beside their raw engines in the same run
// (rounds alternate brindle / anchor, the order rotating each round; medians and ratios printed;
// exit 0 whatever the numbers).
//   1. SQLite write latency and writes/s    vs a plain better-sqlite3 insert loop (same pragmas)
//   2. SQLite watch delivery across processes vs a hand-written 1 ms better-sqlite3 poller
//   3. etcd write latency and writes/s      vs plain puts (fetch, node:http) to the same gateway
// Run: node --import tsx bench/datastore/bench-datastore.ts [--rounds N]   (default 9, at least 5)

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import Database from 'better-sqlite3';
import { EtcdDatastore } from '../../src/datastore/etcd-datastore.ts';
import { etcdAvailable, startEtcd } from '../../src/datastore/etcd-process.ts';
import { SqliteDatastore } from '../../src/datastore/sqlite-datastore.ts';
import { median, quantile } from '../bench-stats.ts';

const THIS_FILE = fileURLToPath(import.meta.url);
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WATCH_KEY = '/bench/watch/k';

const now = (): number => Number(process.hrtime.bigint()) / 1e6; // ms, CLOCK_MONOTONIC (same in every process)
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const f = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

interface RoundStats {
  p50: number;
  p99: number;
  perSecond: number;
}
function stats(latencies: number[], elapsedMs: number): RoundStats {
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), perSecond: (latencies.length / elapsedMs) * 1000 };
}
function medianStats(rounds: RoundStats[]): RoundStats {
  return { p50: median(rounds.map((r) => r.p50)), p99: median(rounds.map((r) => r.p99)), perSecond: median(rounds.map((r) => r.perSecond)) };
}

async function sequential(n: number, op: (i: number) => Promise<unknown> | unknown): Promise<RoundStats> {
  const latencies: number[] = [];
  const start = now();
  for (let i = 0; i < n; i++) {
    const t = now();
    await op(i);
    latencies.push(now() - t);
  }
  return stats(latencies, now() - start);
}

async function concurrent(n: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<RoundStats> {
  const latencies: number[] = [];
  let next = 0;
  const start = now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        const t = now();
        await op(i);
        latencies.push(now() - t);
      }
    }),
  );
  return stats(latencies, now() - start);
}

/**
 * Runs the arms of one round in an order rotated by the round number, so no arm always runs first
 * (right after another arm's burst, when the store may still be flushing) or always last.
 */
async function inRotation<T>(round: number, arms: Array<() => Promise<T>>): Promise<T[]> {
  const results = new Array<T>(arms.length);
  for (let k = 0; k < arms.length; k++) {
    const index = (k + round) % arms.length;
    results[index] = await arms[index]();
  }
  return results;
}

interface Row {
  what: string;
  brindle: string;
  anchor: string;
  ratio: string;
  goal: string;
}
const rows: Row[] = [];

// ---------------------------------------------------------------- 1. SQLite writes

async function benchSqliteWrites(dir: string, rounds: number): Promise<void> {
  const N = 300;
  const value = JSON.stringify({ spec: { cidr: '10.65.0.0/26', allocations: 'x'.repeat(150) } });
  const store = new SqliteDatastore(join(dir, 'writes.db'), { retainRevisions: 0 });
  const raw = new Database(join(dir, 'raw.db'));
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = FULL');
  raw.exec('CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v TEXT NOT NULL)');
  const insert = raw.prepare('INSERT OR REPLACE INTO t (k, v) VALUES (?, ?)');
  for (let i = 0; i < 64; i++) await store.create(`/bench/w/${i}`, value);
  await sequential(100, (i) => store.update(`/bench/w/${i % 64}`, value)); // warm-up
  await sequential(100, (i) => insert.run(`/bench/w/${i % 64}`, value));

  const ours: RoundStats[] = [];
  const anchor: RoundStats[] = [];
  console.log(`\n## 1. SQLite writes: ${N} sequential writes per round (synchronous=FULL, WAL)`);
  for (let r = 0; r < rounds; r++) {
    const [a, b] = await inRotation(r, [
      () => sequential(N, (i) => store.update(`/bench/w/${i % 64}`, value)),
      () => sequential(N, (i) => insert.run(`/bench/w/${i % 64}`, value)),
    ]);
    ours.push(a);
    anchor.push(b);
    console.log(
      `round ${r + 1}: brindle update p50 ${f(a.p50, 3)} p99 ${f(a.p99, 3)} ms ${f(a.perSecond, 0)}/s | ` +
        `raw insert p50 ${f(b.p50, 3)} p99 ${f(b.p99, 3)} ms ${f(b.perSecond, 0)}/s`,
    );
  }
  await store.close();
  raw.close();
  const A = medianStats(ours);
  const B = medianStats(anchor);
  rows.push(
    { what: 'SQLite write latency p50 / p99 (ms)', brindle: `${f(A.p50, 3)} / ${f(A.p99, 3)}`, anchor: `${f(B.p50, 3)} / ${f(B.p99, 3)}`, ratio: `${f(A.p50 / B.p50)} / ${f(A.p99 / B.p99)}`, goal: '—' },
    { what: 'SQLite writes/s, sequential (update with revision + history row)', brindle: f(A.perSecond, 0), anchor: f(B.perSecond, 0), ratio: f(A.perSecond / B.perSecond), goal: 'context' },
  );
}

// ---------------------------------------------------------------- 2. SQLite watch delivery

/** Child mode: writes WATCH_KEY on request and reports the monotonic commit time of each write. */
async function writerChild(path: string): Promise<void> {
  const store = new SqliteDatastore(path);
  if (!(await store.get(WATCH_KEY))) await store.create(WATCH_KEY, 'init');
  process.stdout.write('ready\n');
  for await (const line of createInterface({ input: process.stdin })) {
    const [tag, count] = line.split(' ');
    const times: number[] = [];
    for (let i = 0; i < Number(count); i++) {
      await sleep(1 + Math.random() * 4); // irregular spacing, so writes do not phase-lock with a poller
      await store.update(WATCH_KEY, `${tag}:${i}`);
      times.push(now());
    }
    process.stdout.write(JSON.stringify(times) + '\n');
  }
  await store.close();
}

class Writer {
  readonly #child: ChildProcess;
  readonly #lines: AsyncIterator<string>;
  constructor(path: string) {
    this.#child = spawn(process.execPath, ['--import', 'tsx', THIS_FILE, '--writer', path], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.#lines = createInterface({ input: this.#child.stdout! })[Symbol.asyncIterator]();
  }
  async next(): Promise<string> {
    const { value, done } = await this.#lines.next();
    if (done) throw new Error('writer child exited');
    return value;
  }
  async run(tag: string, count: number): Promise<number[]> {
    this.#child.stdin!.write(`${tag} ${count}\n`);
    return JSON.parse(await this.next()) as number[];
  }
  stop(): void {
    this.#child.stdin!.end();
  }
}

async function deliveryRound(
  writer: Writer,
  tag: string,
  count: number,
  startWatch: (onValue: (value: string) => void) => () => Promise<void> | void,
): Promise<number[]> {
  const received = new Map<string, number>();
  const stop = startWatch((value) => {
    if (!received.has(value)) received.set(value, now());
  });
  const commits = await writer.run(tag, count);
  const deadline = now() + 10_000;
  while (received.size < count && now() < deadline) await sleep(5);
  await stop();
  return commits.map((t, i) => (received.get(`${tag}:${i}`) ?? Infinity) - t);
}

async function benchSqliteWatch(dir: string, rounds: number): Promise<void> {
  const N = 150;
  const path = join(dir, 'watch.db');
  const store = new SqliteDatastore(path);
  const writer = new Writer(path);
  if ((await writer.next()) !== 'ready') throw new Error('writer child did not start');
  const raw = new Database(path, { readonly: true });
  const rawChanges = raw.prepare<[number], { rev: number; value: string }>('SELECT rev, value FROM changes WHERE rev > ? ORDER BY rev');

  const ours: RoundStats[] = [];
  const anchor: RoundStats[] = [];
  console.log(`\n## 2. SQLite watch delivery: ${N} writes per round in a child process → watcher here (write returned → event)`);
  for (let r = 0; r < rounds; r++) {
    const oursArm = (): Promise<number[]> => deliveryRound(writer, `ours${r}`, N, (onValue) => {
      let handle: { close(): Promise<void> } | undefined;
      const ready = store.revision().then((rev) => {
        handle = store.watch('/bench/watch/', rev, {
          onEvents: (events) => events.forEach((e) => e.type === 'put' && onValue(e.kv.value)),
          onError: (err) => console.error(`watch error: ${err.message}`),
        });
      });
      return async () => {
        await ready;
        await handle?.close();
      };
    });
    const rawArm = (): Promise<number[]> => deliveryRound(writer, `raw${r}`, N, (onValue) => {
      let cursor = raw.prepare<[], number>('SELECT coalesce(max(rev), 0) FROM changes').pluck().get() as number;
      const timer = setInterval(() => {
        for (const row of rawChanges.all(cursor)) {
          cursor = row.rev;
          onValue(row.value);
        }
      }, 1);
      return () => clearInterval(timer);
    });
    const [a, b] = await inRotation(r, [oursArm, rawArm]);
    const sa = stats(a, 1);
    const sb = stats(b, 1);
    ours.push(sa);
    anchor.push(sb);
    console.log(`round ${r + 1}: brindle watch p50 ${f(sa.p50)} p99 ${f(sa.p99)} ms | raw 1 ms poller p50 ${f(sb.p50)} p99 ${f(sb.p99)} ms`);
  }
  writer.stop();
  raw.close();
  await store.close();
  const A = medianStats(ours);
  const B = medianStats(anchor);
  rows.push({
    what: 'SQLite watch delivery across processes p50 / p99 (ms)',
    brindle: `${f(A.p50)} / ${f(A.p99)}`,
    anchor: `${f(B.p50)} / ${f(B.p99)}`,
    ratio: `${f(A.p50 / B.p50)} / ${f(A.p99 / B.p99)}`,
    goal: `p99 ≤ 20 ms: ${A.p99 <= 20 ? 'met' : 'NOT met'}`,
  });
}

// ---------------------------------------------------------------- 3. etcd writes

async function benchEtcd(rounds: number): Promise<void> {
  if (!etcdAvailable()) {
    console.log('\n## 3. etcd: skipped, /usr/bin/etcd is not installed');
    return;
  }
  const etcd = await startEtcd();
  const agent = new http.Agent({ keepAlive: true });
  try {
    const N = 150;
    const C = 16;
    const NC = 300;
    const text = JSON.stringify({ spec: { cidr: '10.65.0.0/26', allocations: 'x'.repeat(150) } });
    const store = new EtcdDatastore(etcd.url);
    for (let i = 0; i < 64; i++) await store.create(`/bench/e/${i}`, text);
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const value = b64(text);
    const viaFetch = async (path: string, body: unknown): Promise<void> => {
      const res = await fetch(`${etcd.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`raw ${path} failed: HTTP ${res.status}`);
      await res.json();
    };
    const viaHttp = (path: string, body: unknown): Promise<void> =>
      new Promise((resolve, reject) => {
        const payload = JSON.stringify(body);
        const req = http.request(`${etcd.url}${path}`, {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        });
        req.on('response', (res) => {
          let answer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (answer += chunk));
          res.on('end', () => (res.statusCode === 200 ? resolve(void JSON.parse(answer)) : reject(new Error(`raw ${path}: HTTP ${res.statusCode}`))));
        });
        req.on('error', reject);
        req.end(payload);
      });
    const putBody = (i: number): unknown => ({ key: b64(`/bench/e/${i % 64}`), value });
    // The very request update() sends, built by hand: isolates the client's own cost.
    const txnBody = (i: number): unknown => {
      const key = b64(`/bench/e/${i % 64}`);
      return {
        compare: [{ key, target: 'VERSION', result: 'GREATER', version: '0' }],
        success: [{ request_put: { key, value, prev_kv: true } }],
        failure: [{ request_range: { key } }],
      };
    };
    const ops: Record<string, (i: number) => Promise<unknown>> = {
      brindle: (i) => store.update(`/bench/e/${i % 64}`, text),
      'put/fetch': (i) => viaFetch('/v3/kv/put', putBody(i)),
      'put/http': (i) => viaHttp('/v3/kv/put', putBody(i)),
      'txn/http': (i) => viaHttp('/v3/kv/txn', txnBody(i)),
    };
    const names = Object.keys(ops);
    // Warm all paths (connection pools, fetch's lazy start-up, etcd's caches) before measuring.
    for (const name of names) await sequential(50, ops[name]);

    const seq: Record<string, RoundStats[]> = Object.fromEntries(names.map((n) => [n, []]));
    const con: Record<string, RoundStats[]> = Object.fromEntries(names.map((n) => [n, []]));
    console.log(
      `\n## 3. etcd writes: ${N} sequential and ${NC} with ${C} in flight per round; brindle update() vs raw gateway puts ` +
        '(plain fetch, plain node:http keep-alive) and the same txn by hand',
    );
    for (let r = 0; r < rounds; r++) {
      const s1 = await inRotation(r, names.map((n) => () => sequential(N, ops[n])));
      const s2 = await inRotation(r, names.map((n) => () => concurrent(NC, C, ops[n])));
      names.forEach((n, k) => {
        seq[n].push(s1[k]);
        con[n].push(s2[k]);
      });
      console.log(
        `round ${r + 1}: sequential ` +
          names.map((n, k) => `${n} p50 ${f(s1[k].p50)} ms ${f(s1[k].perSecond, 0)}/s`).join(' | ') +
          ` || ${C} in flight ` +
          names.map((n, k) => `${n} ${f(s2[k].perSecond, 0)}/s`).join(' | '),
      );
    }
    await store.close();
    const S = Object.fromEntries(names.map((n) => [n, medianStats(seq[n])]));
    const P = Object.fromEntries(names.map((n) => [n, medianStats(con[n])]));
    const goal = (x: number): string => `≥ 0.8×: ${x >= 0.8 ? 'met' : 'NOT met'} (${f(x, 3)})`;
    const ratioRow = (what: string, m: Record<string, RoundStats>, anchor: string, goalText?: string): Row => {
      const x = m.brindle.perSecond / m[anchor].perSecond;
      return { what, brindle: f(m.brindle.perSecond, 0), anchor: `${f(m[anchor].perSecond, 0)} (raw ${anchor})`, ratio: f(x), goal: goalText ?? goal(x) };
    };
    rows.push(
      {
        what: 'etcd write latency p50 / p99 (ms), sequential',
        brindle: `${f(S.brindle.p50)} / ${f(S.brindle.p99)}`,
        anchor: `${f(S['put/http'].p50)} / ${f(S['put/http'].p99)} (raw put/http)`,
        ratio: `${f(S.brindle.p50 / S['put/http'].p50)} / ${f(S.brindle.p99 / S['put/http'].p99)}`,
        goal: '—',
      },
      ratioRow('etcd writes/s, sequential', S, 'put/fetch'),
      ratioRow('etcd writes/s, sequential', S, 'put/http'),
      ratioRow(`etcd writes/s, ${C} in flight`, P, 'put/fetch'),
      ratioRow(`etcd writes/s, ${C} in flight`, P, 'put/http'),
      ratioRow('etcd client overhead: sequential, vs the same txn by hand', S, 'txn/http', 'context'),
      ratioRow(`etcd client overhead: ${C} in flight, vs the same txn by hand`, P, 'txn/http', 'context'),
    );
  } finally {
    agent.destroy();
    await etcd.stop();
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const roundsArg = process.argv.indexOf('--rounds');
  const rounds = Math.max(5, roundsArg > 0 ? Number(process.argv[roundsArg + 1]) || 9 : 9);
  const started = now();
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string };
  let etcdVersion = 'not installed';
  try {
    etcdVersion = execFileSync('/usr/bin/etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    /* reported as not installed */
  }
  console.log(`# brindle datastore benchmark — ${rounds} alternating rounds per comparison, medians`);
  console.log(`node ${process.version}, ${cpus().length} CPUs, better-sqlite3 ${pkg.version}, ${etcdVersion}`);
  const dir = mkdtempSync(join(tmpdir(), 'brindle-bench-ds-'));
  try {
    await benchSqliteWrites(dir, rounds);
    await benchSqliteWatch(dir, rounds);
    await benchEtcd(rounds);
  } catch (err) {
    console.log(`\nbenchmark stopped early: ${err instanceof Error ? err.stack : String(err)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\n## Results (medians of ${rounds} rounds; ${f((now() - started) / 1000, 1)} s; command: npm run bench:datastore)\n`);
  console.log('| measure | brindle | anchor (same run) | ratio | goal |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.what} | ${r.brindle} | ${r.anchor} | ${r.ratio} | ${r.goal} |`);
  console.log(
    '\nAnchors: SQLite writes — plain better-sqlite3 `INSERT OR REPLACE` loop, same WAL + synchronous=FULL; ' +
      'SQLite watch — a hand-written better-sqlite3 poller reading the same table every 1 ms; ' +
      'etcd — POST /v3/kv/put to the same gateway with plain `fetch` and with plain node:http keep-alive (update() is a txn: key must exist, put with prev_kv; ' +
      'the hand-built txn rows isolate the client\'s own cost). Ratios are brindle ÷ anchor (latency: lower is better; writes/s: higher is better).',
  );
}

if (process.argv[2] === '--writer') {
  await writerChild(process.argv[3]);
} else {
  await main();
  process.exit(0);
}
