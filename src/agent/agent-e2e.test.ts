// Root end-to-end test of brindle-agent as a process (skipped with the reason when not root): a throwaway
// host namespace with two lab pods, the agent started inside it (nsenter) against a temp SQLite store,
// a policy applied through ResourceStore and TCP allowed/denied as it says; the nft table flushed by
// hand and repaired by the periodic resync; kill -9 and a restart that reconciles in place while an
// established TCP connection keeps working. Every process, namespace and file is removed in after hooks.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ResourceStore, SqliteDatastore } from '../datastore/index.ts';
import { createLab } from '../dataplane/index.ts';
import type { Lab } from '../dataplane/index.ts';
import type { GlobalNetworkPolicy, Node, Profile, WorkloadEndpoint } from '../model/index.ts';
import { ProcessRunner, TEST_HOST_UPLINK, inNetns, rootTestSkipReason } from '../os/index.ts';
import { pollUntil } from '../lib/index.ts';

const skip = rootTestSkipReason(['ip', 'nsenter', 'nft']);
const NODE = 'e2e-host';
const AGENT_BIN = resolve(import.meta.dirname, '../../bin/brindle-agent.mjs');
const A = { name: 'a', v4: '10.66.0.1', iface: 'brvagenta' };
const B = { name: 'b', v4: '10.66.0.2', iface: 'brvagentb' };

function socketStatus(socketPath: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/', method: 'GET' }, (res) => { res.resume(); resolve(res.statusCode); });
    req.on('error', reject);
    req.end();
  });
}

const until = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, deadlineMs: number): Promise<T> =>
  pollUntil(what, fn, deadlineMs, { tolerateErrors: true });

function wep(pod: typeof A): WorkloadEndpoint {
  return {
    apiVersion: 'projectcalico.org/v3', kind: 'WorkloadEndpoint',
    metadata: { name: `${NODE}-cni-${pod.name}-eth0`, namespace: 'default', labels: { app: pod.name } },
    spec: { node: NODE, orchestrator: 'cni', workload: pod.name, endpoint: 'eth0', interfaceName: pod.iface, ipNetworks: [`${pod.v4}/32`], profiles: ['e2e-allow-all'] },
  };
}

interface AgentProc {
  child: ChildProcess;
  log: string;
}

// Echo server in a pod (prints "ready"), and a client that keeps one connection open: each stdin line
// is sent, each echoed line printed.
const ECHO_SERVER = `require('node:net').createServer((c) => { c.pipe(c); c.on('error', () => {}); }).listen(7000, '0.0.0.0', () => console.log('ready'));`;
const ECHO_CLIENT = `const s = require('node:net').connect(7000, process.argv[1], () => console.log('connected'));
s.setEncoding('utf8'); s.on('data', (d) => process.stdout.write(d)); s.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });
process.stdin.setEncoding('utf8'); process.stdin.on('data', (d) => s.write(d));`;

describe('brindle-agent end to end (root, throwaway namespaces)', { skip }, () => {
  const runner = new ProcessRunner();
  let dir = '';
  let lab: Lab | undefined;
  let ds: SqliteDatastore | undefined;
  const children: ChildProcess[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'brindle-agent-e2e-'));
  });
  after(async () => {
    for (const c of children) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        process.kill(c.pid, 'SIGKILL');
        await new Promise<void>((r) => { if (c.exitCode !== null || c.signalCode !== null) r(); else c.once('exit', () => r()); });
      }
    }
    await lab?.close();
    await ds?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function startAgent(dbPath: string): AgentProc {
    const { command, args } = inNetns(lab!.hostPath, process.execPath, [
      AGENT_BIN, '--datastore', `sqlite:${dbPath}`, '--nodename', NODE, '--ip-autodetect', 'first-found',
      '--resync-interval', '2s', '--health-port', '9099', '--cni-socket', join(dir, 'cni.sock'),
    ]);
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    const proc: AgentProc = { child, log: '' };
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => { proc.log += d; });
    return proc;
  }

  function spawnIn(podName: string, script: string, args: string[] = []): { child: ChildProcess; out: () => string } {
    const { command, args: full } = inNetns(lab!.pod(podName).ns.path, process.execPath, ['-e', script, ...args]);
    const child = spawn(command, full, { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => { out += d; });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    return { child, out: () => out };
  }

  async function tcp(port: number): Promise<boolean> {
    const [r] = await lab!.probe('a', [{ to: B.v4, proto: 'tcp', port }], 500);
    return r.ok;
  }

  async function nftRuleCount(): Promise<number> {
    const { stdout } = await lab!.run('host', 'nft', ['-j', 'list', 'table', 'inet', 'brindle']);
    return (JSON.parse(stdout) as { nftables: Array<Record<string, unknown>> }).nftables.filter((o) => 'rule' in o).length;
  }

  async function readiness(): Promise<string> {
    const { stdout } = await lab!.run('host', 'curl', ['-s', '-w', ' %{http_code}', 'http://127.0.0.1:9099/readiness']);
    return stdout;
  }

  test('policy enforced, drift repaired, kill -9 and restart reconcile in place', { timeout: 90_000 }, async () => {
    lab = await createLab(runner);
    await lab.addPod(A, { routes: false });
    await lab.addPod(B, { routes: false });
    await lab.startServer('b');
    const echo = spawnIn('b', ECHO_SERVER);
    await until('echo server', () => echo.out().includes('ready'), 10_000);

    const dbPath = join(dir, 'brindle.db');
    ds = new SqliteDatastore(dbPath);
    const store = new ResourceStore(ds);
    const profile: Profile = { apiVersion: 'projectcalico.org/v3', kind: 'Profile', metadata: { name: 'e2e-allow-all' }, spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] } };
    await store.create(profile);
    await store.create(wep(A));
    await store.create(wep(B));

    let agent = startAgent(dbPath);
    await until('agent ready', async () => (await readiness()).endsWith(' 200'), 20_000);
    // The CNI fast-path socket is served by the agent (a GET is not a plugin call: 404).
    assert.equal(await socketStatus(join(dir, 'cni.sock')), 404);
    const node = await store.get<Node>({ kind: 'Node', name: NODE });
    assert.equal(node?.spec.bgp?.ipv4Address, TEST_HOST_UPLINK.address, 'Node registered with the autodetected uplink address');
    // The agent programmed the workload routes (the lab did not) and the profile allows everything.
    await until('a reaches b:80 (profile allows)', () => tcp(80), 10_000);

    const policy: GlobalNetworkPolicy = {
      apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: 'b-ingress' },
      spec: { selector: "app == 'b'", types: ['Ingress'], ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [7000, 8080] } }] },
    };
    await store.create(policy);
    await until('b:80 denied by the policy', async () => !(await tcp(80)), 10_000);
    assert.equal(await tcp(8080), true, 'b:8080 allowed by the policy');

    // Drift: flush the table by hand; the periodic resync (2 s) restores the rules.
    const rulesBefore = await nftRuleCount();
    assert.ok(rulesBefore > 0);
    await lab.run('host', 'nft', ['flush', 'table', 'inet', 'brindle']);
    const flushedAt = Date.now();
    const repaired = /"msg":"dataplane drift repaired","nft":[1-9]/g;
    const repairsBefore = (agent.log.match(repaired) ?? []).length;
    await until('the agent reports an nft repair', () => (agent.log.match(repaired) ?? []).length > repairsBefore, 8_000);
    assert.ok(Date.now() - flushedAt < 6_000, 'repaired within the resync interval (plus slack)');
    assert.equal(await nftRuleCount(), rulesBefore, 'every rule is back');
    assert.equal(await tcp(80), false, 'denied again after the repair');
    assert.equal(await tcp(8080), true);

    // An established connection across kill -9 and a restart.
    const client = spawnIn('a', ECHO_CLIENT, [B.v4]);
    await until('client connected', () => client.out().includes('connected'), 5_000);
    client.child.stdin!.write('before\n');
    await until('echo before', () => client.out().includes('before\n'), 5_000);
    process.kill(agent.child.pid!, 'SIGKILL');
    await new Promise<void>((r) => { if (agent.child.exitCode !== null || agent.child.signalCode !== null) r(); else agent.child.once('exit', () => r()); });
    assert.equal(await nftRuleCount(), rulesBefore, 'kill -9 leaves the table in place');
    client.child.stdin!.write('during\n');
    await until('echo while the agent is down', () => client.out().includes('during\n'), 5_000);
    assert.equal(await tcp(80), false, 'the kernel keeps enforcing while the agent is down');

    agent = startAgent(dbPath);
    await until('restarted agent ready', async () => (await readiness()).endsWith(' 200'), 20_000);
    client.child.stdin!.write('after\n');
    await until('echo after restart', () => client.out().includes('after\n'), 5_000);
    assert.ok(!client.out().includes('error'), `connection kept: ${client.out()}`);
    assert.equal(await tcp(80), false);
    assert.equal(await tcp(8080), true);
    const metrics = (await lab.run('host', 'curl', ['-s', 'http://127.0.0.1:9099/metrics'])).stdout;
    assert.match(metrics, /brindle_active_local_endpoints 2/);

    // Policy deleted: traffic back; SIGTERM exits 0 and leaves the dataplane.
    await store.delete({ kind: 'GlobalNetworkPolicy', name: 'b-ingress' });
    await until('b:80 allowed again', () => tcp(80), 10_000);
    process.kill(agent.child.pid!, 'SIGTERM');
    const code = await new Promise<number | null>((r) => { if (agent.child.exitCode !== null) r(agent.child.exitCode); else agent.child.once('exit', (c) => r(c)); });
    assert.equal(code, 0, `clean exit after SIGTERM; log:\n${agent.log.slice(-2000)}`);
    assert.ok((await nftRuleCount()) > 0, 'SIGTERM leaves the dataplane in place');
    assert.equal(existsSync(join(dir, 'cni.sock')), false, 'the CNI socket is removed on stop');
  });
});
