// The throwaway etcd harness: it starts healthy on free loopback ports, keeps data across
// restart(), and stop() ends that one process and removes its data directory.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EtcdDatastore } from './etcd-datastore.ts';
import { ETCD_BINARY, etcdAvailable, startEtcd } from './etcd-process.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODULE = pathToFileURL(fileURLToPath(new URL('./etcd-process.ts', import.meta.url))).href;

/** Runs a child that starts etcd, reports it, then ends the way `ending` says without stop(). */
function childThatLeaks(ending: string): Promise<{ pid: number; dataDir: string; code: number | null; signal: string | null }> {
  const source = `
    const { startEtcd } = await import(${JSON.stringify(MODULE)});
    const etcd = await startEtcd();
    process.stdout.write(JSON.stringify({ pid: etcd.pid, dataDir: etcd.dataDir }) + '\\n');
    ${ending}
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (ending.includes('setInterval') && out.includes('\n')) child.kill('SIGTERM');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      try {
        resolve({ ...JSON.parse(out.split('\n')[0]), code, signal });
      } catch {
        reject(new Error(`child printed no etcd details (code ${code}, signal ${signal}): ${out}`));
      }
    });
  });
}

/** Running, and not a zombie waiting for init to reap it. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false; // exited between the two checks
  }
}

/** Polls until the process is gone: a SIGKILL takes effect asynchronously. */
async function gone(pid: number, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

describe('startEtcd', { skip: etcdAvailable() ? false : `${ETCD_BINARY} is not installed` }, () => {
  it('starts a healthy etcd, keeps its data across restart, and stop() removes process and data', async () => {
    const etcd = await startEtcd();
    try {
      assert.match(etcd.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(alive(etcd.pid));
      assert.ok(existsSync(etcd.dataDir));
      const store = new EtcdDatastore(etcd.url);
      const kv = await store.create('/harness/k', 'v');
      const firstPid = etcd.pid;
      await etcd.restart();
      assert.ok(await gone(firstPid), 'the first etcd process must be gone after restart');
      assert.deepEqual(await store.get('/harness/k'), kv);
      await store.close();
    } finally {
      await etcd.stop();
    }
    assert.ok(await gone(etcd.pid), `etcd pid ${etcd.pid} still running after stop()`);
    assert.ok(!existsSync(etcd.dataDir), 'data directory left behind');
    await etcd.stop(); // idempotent
  });

  it('two instances at once get distinct ports', async () => {
    const [a, b] = await Promise.all([startEtcd(), startEtcd()]);
    try {
      assert.notEqual(a.url, b.url);
      await new EtcdDatastore(a.url).create('/only-in-a', 'x');
      assert.equal(await new EtcdDatastore(b.url).get('/only-in-a'), undefined);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('an etcd left running by a process that fails or is terminated is stopped and removed', async () => {
    for (const ending of ["throw new Error('test failed');", 'setInterval(() => {}, 1000);']) {
      const leaked = await childThatLeaks(ending);
      assert.ok(leaked.code !== 0, `child should have failed: ${JSON.stringify(leaked)}`);
      assert.ok(await gone(leaked.pid), `etcd pid ${leaked.pid} outlived its parent (${ending})`);
      assert.ok(!existsSync(leaked.dataDir), `data directory ${leaked.dataDir} left behind (${ending})`);
    }
  });

  it('a missing binary is a CommandError naming it', async () => {
    await assert.rejects(startEtcd({ binary: '/nonexistent/etcd' }), {
      name: 'CommandError',
      message: 'Cannot start etcd: "/nonexistent/etcd" is not installed',
    });
  });
});
