// Runs allocate-worker.ts in several child processes against one store and collects what each got:
// the multi-process no-duplicates test and bench/ipam use it. Children are started, all report
// "ready", then all are told "go" at once, so their allocations really overlap.
//
//   runAllocationWorkers ──spawn node --import tsx allocate-worker.ts ×N──► ready ×N ──► go ──► JSON results

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { IpamCounters } from './ipam.ts';

export const ALLOCATE_WORKER = fileURLToPath(new URL('./allocate-worker.ts', import.meta.url));
// `--import tsx` resolves from the working directory: run children from the repository root.
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface WorkerSpec {
  host: string;
  count: number;
  handlePrefix: string;
}

export interface WorkerResult {
  ips: string[];
  allocMs: number;
  releaseMs: number;
  /** One per allocation, in order. */
  latenciesMs: number[];
  counters: IpamCounters;
}

/** Deadline for the whole run; children still running then are killed (by PID) and the run fails. */
export async function runAllocationWorkers(
  locator: string,
  specs: WorkerSpec[],
  options: { release?: boolean; timeoutMs?: number } = {},
): Promise<{ results: WorkerResult[]; wallMs: number }> {
  const children: ChildProcess[] = [];
  const outputs: string[] = specs.map(() => '');
  const errors: string[] = specs.map(() => '');
  const ready: Array<Promise<void>> = [];
  const done: Array<Promise<void>> = [];
  for (const [i, spec] of specs.entries()) {
    const args = ['--import', 'tsx', ALLOCATE_WORKER, locator, spec.host, String(spec.count), spec.handlePrefix];
    if (options.release) args.push('release');
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let signalReady: () => void = () => {};
    ready.push(new Promise<void>((resolve) => (signalReady = resolve)));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      outputs[i] += chunk;
      if (outputs[i].startsWith('ready\n')) signalReady();
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (errors[i] += chunk));
    done.push(
      new Promise<void>((resolve, reject) => {
        child.on('error', reject);
        child.on('exit', (code, signal) => {
          if (code === 0) resolve();
          else reject(new Error(`allocation worker ${i} (host "${spec.host}") exited with ${signal ?? code}: ${errors[i].trim().slice(-2000)}`));
        });
      }),
    );
  }
  const deadline = setTimeout(() => {
    for (const c of children) if (c.exitCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
  }, options.timeoutMs ?? 600_000);
  try {
    // A worker that dies before "ready" must fail the run, not hang it.
    await Promise.race([Promise.all(ready), Promise.all(done)]);
    const t0 = performance.now();
    for (const c of children) c.stdin!.end('go\n');
    await Promise.all(done);
    const wallMs = performance.now() - t0;
    const results = outputs.map((out, i) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        return JSON.parse(last) as WorkerResult;
      } catch {
        throw new Error(`allocation worker ${i} printed no result: ${JSON.stringify(out.slice(-500))}`);
      }
    });
    return { results, wallMs };
  } finally {
    clearTimeout(deadline);
    for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
  }
}
