// Root tests of brindle-cni driven exactly as a runtime drives it (the bundled binary, CNI_* env,
// config on stdin) inside a throwaway host namespace: two dual-stack pods get addresses and routes
// and reach each other (ping, TCP) through the host's routes; DEL removes everything; bad input
// leaves nothing behind; a plugin killed at each point inside ADD is cleaned up by DEL or by IPAM GC;
// CHECK notices a missing route. Skipped (with the reason) when not root.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ipam, IpamGarbageCollector } from '../ipam/index.ts';
import type { IPReservation, Node } from '../model/index.ts';
import { ipBatch, ipJson, rootTestSkipReason } from '../os/index.ts';
import type { IpAddrLink, IpRoute, ThrowawayNetns } from '../os/index.ts';
import { CRASH_POINTS } from './cni-plugin.ts';
import { execPlugin } from './plugin-exec.ts';
import { createCniFixture, NOTHING_LEFT } from './cni-test-support.ts';
import type { CniFixture } from './cni-test-support.ts';

const skip = rootTestSkipReason(['ip', 'nsenter', 'ping']);

interface AddResult {
  interfaces: Array<{ name: string; mac: string; sandbox?: string }>;
  ips: Array<{ address: string; gateway: string }>;
}

function addrOf(res: AddResult, family: 4 | 6): string {
  const ip = res.ips.find((i) => i.address.includes(':') === (family === 6));
  assert.ok(ip, `no IPv${family} address in ${JSON.stringify(res)}`);
  return ip.address.split('/')[0];
}

/** Starts a TCP server inside a namespace that answers "hello from <ns>"; resolves once it listens. */
async function tcpServer(ns: ThrowawayNetns, port: number): Promise<{ stop(): void }> {
  const code = `require('net').createServer((s) => s.end('hello from ${ns.name}')).listen(${port}, '::', () => console.log('ready'));`;
  const child = spawn('nsenter', [`--net=${ns.path}`, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('TCP server did not start within 10 s')), 10_000);
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (c) => reject(new Error(`TCP server exited with ${c}`)));
  });
  return { stop: () => child.kill('SIGKILL') };
}

async function tcpFetch(ns: ThrowawayNetns, ip: string, port: number): Promise<string> {
  const code = `const s = require('net').connect(${port}, ${JSON.stringify(ip)}); let d = ''; s.on('data', (b) => d += b); s.on('end', () => process.stdout.write(d, () => process.exit(0))); s.on('error', (e) => { console.error(e.message); process.exit(1); }); setTimeout(() => process.exit(2), 5000);`;
  const r = await ns.run(process.execPath, ['-e', code], { timeoutMs: 10_000 });
  return r.stdout;
}

describe('brindle-cni driven like a runtime (root)', { skip }, () => {
  let fx: CniFixture;
  before(async () => {
    fx = await createCniFixture();
    const node: Node = { apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: 'brb-node' }, spec: {} };
    await fx.apply(node);
  });
  after(async () => {
    await fx?.close();
  });

  test('two dual-stack pods get addresses and routes, reach each other through the host, and DEL removes everything', async () => {
    const a = await fx.pod();
    const b = await fx.pod();
    const addA = await fx.exec('ADD', { netns: a.path, containerId: 'pod-a', args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=a' });
    assert.equal(addA.exitCode, 0, addA.stdout + addA.stderr);
    const addB = await fx.exec('ADD', { netns: b.path, containerId: 'pod-b', args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=b' });
    assert.equal(addB.exitCode, 0, addB.stdout + addB.stderr);
    const resA = addA.json as unknown as AddResult;
    const resB = addB.json as unknown as AddResult;

    // The pod's view: its /32 and /128 on eth0, default routes via the gateways.
    const [eth0] = await ipJson<IpAddrLink>(fx.runner, ['addr', 'show', 'dev', 'eth0'], { netns: a.path });
    const addrs = (eth0.addr_info ?? []).filter((x) => x.scope === 'global').map((x) => `${x.local}/${x.prefixlen}`).sort();
    assert.deepEqual(addrs, [`${addrOf(resA, 4)}/32`, `${addrOf(resA, 6)}/128`].sort());
    assert.equal(eth0.address, resA.interfaces[1].mac);
    const r4 = await ipJson<IpRoute>(fx.runner, ['-4', 'route', 'show'], { netns: a.path });
    assert.ok(r4.some((r) => r.dst === 'default' && r.gateway === '169.254.1.1' && r.dev === 'eth0'), JSON.stringify(r4));
    const r6 = await ipJson<IpRoute>(fx.runner, ['-6', 'route', 'show'], { netns: a.path });
    assert.ok(r6.some((r) => r.dst === 'default' && r.gateway === 'fe80::ecee:eeff:feee:eeee'), JSON.stringify(r6));

    // The host's view: one brv link per pod, a /32 and a /128 route per pod.
    const left = await fx.leftovers();
    assert.deepEqual(left.hostLinks.sort(), [resA.interfaces[0].name, resB.interfaces[0].name].sort());
    assert.equal(left.hostRoutes.length, 4, JSON.stringify(left.hostRoutes));
    assert.equal(left.endpoints.length, 2);
    assert.equal(left.allocations, 4);

    // Traffic between the pods, through the host namespace's routes.
    const ping4 = await a.run('ping', ['-c', '1', '-W', '3', addrOf(resB, 4)], { okCodes: [1] });
    assert.equal(ping4.code, 0, ping4.stdout + ping4.stderr);
    const ping6 = await a.run('ping', ['-6', '-c', '1', '-W', '3', addrOf(resB, 6)], { okCodes: [1] });
    assert.equal(ping6.code, 0, ping6.stdout + ping6.stderr);
    const server = await tcpServer(b, 18080);
    try {
      assert.equal(await tcpFetch(a, addrOf(resB, 4), 18080), `hello from ${b.name}`);
      assert.equal(await tcpFetch(a, addrOf(resB, 6), 18080), `hello from ${b.name}`);
    } finally {
      server.stop();
    }

    for (const [ns, id, args] of [[a, 'pod-a', 'IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=a'], [b, 'pod-b', 'IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=b']] as const) {
      const del = await fx.exec('DEL', { netns: ns.path, containerId: id, args }, { conf: fx.conf({ prevResult: id === 'pod-a' ? addA.json : addB.json }) });
      assert.equal(del.exitCode, 0, del.stdout + del.stderr);
      assert.equal(del.stdout, '');
    }
    assert.deepEqual(await fx.leftovers(), NOTHING_LEFT);
    const [podLink] = await ipJson<IpAddrLink>(fx.runner, ['link', 'show'], { netns: a.path });
    assert.equal(podLink.ifname, 'lo', 'eth0 is gone from the pod');
    // DEL again, and DEL with the namespace gone: still success.
    assert.equal((await fx.exec('DEL', { netns: a.path, containerId: 'pod-a' })).exitCode, 0);
    await b.delete();
    assert.equal((await fx.exec('DEL', { netns: b.path, containerId: 'pod-b' })).exitCode, 0);
  });

  test('an IPv6-only attachment (ipam.assign_ipv4 false) reaches a dual-stack pod over IPv6', async () => {
    const a = await fx.pod();
    const b = await fx.pod();
    const conf6 = fx.conf({ ipam: { type: 'brindle-ipam', assign_ipv4: false } });
    const addA = await fx.exec('ADD', { netns: a.path, containerId: 'v6-a' }, { conf: conf6 });
    assert.equal(addA.exitCode, 0, addA.stdout + addA.stderr);
    const addB = await fx.exec('ADD', { netns: b.path, containerId: 'v6-b' });
    assert.equal(addB.exitCode, 0, addB.stdout + addB.stderr);
    const resA = addA.json as unknown as AddResult;
    assert.equal(resA.ips.length, 1);
    assert.match(resA.ips[0].address, /^fd00:91::[0-9a-f]+\/128$/);
    const r4 = await ipJson<IpRoute>(fx.runner, ['-4', 'route', 'show'], { netns: a.path });
    assert.deepEqual(r4, [], 'no IPv4 routes in an IPv6-only pod');
    const ping6 = await a.run('ping', ['-6', '-c', '1', '-W', '3', addrOf(addB.json as unknown as AddResult, 6)], { okCodes: [1] });
    assert.equal(ping6.code, 0, ping6.stdout + ping6.stderr);
    assert.equal((await fx.exec('DEL', { netns: a.path, containerId: 'v6-a' }, { conf: conf6 })).exitCode, 0);
    assert.equal((await fx.exec('DEL', { netns: b.path, containerId: 'v6-b' })).exitCode, 0);
    assert.deepEqual(await fx.leftovers(), NOTHING_LEFT);
  });

  test('CHECK passes after ADD and reports a host route removed behind the plugin\'s back', async () => {
    const p = await fx.pod();
    const add = await fx.exec('ADD', { netns: p.path, containerId: 'pod-check' }, { conf: fx.conf({ cniVersion: '0.4.0' }) });
    assert.equal(add.exitCode, 0, add.stdout);
    const conf = fx.conf({ cniVersion: '0.4.0', prevResult: add.json });
    const ok = await fx.exec('CHECK', { netns: p.path, containerId: 'pod-check' }, { conf });
    assert.equal(ok.exitCode, 0, ok.stdout + ok.stderr);
    const res = add.json as unknown as AddResult;
    const ip = addrOf(res, 4);
    await ipBatch(fx.runner, [`route del ${ip}/32 dev ${res.interfaces[0].name}`], { netns: fx.host.path });
    const bad = await fx.exec('CHECK', { netns: p.path, containerId: 'pod-check' }, { conf });
    assert.equal(bad.exitCode, 1);
    assert.equal(bad.json?.code, 103);
    assert.match(String(bad.json?.msg), new RegExp(`host route ${ip.replace(/\./g, '\\.')}/32 dev brv[0-9a-f]+ is missing`));
    assert.equal((await fx.exec('DEL', { netns: p.path, containerId: 'pod-check' }, { conf })).exitCode, 0);
    assert.deepEqual(await fx.leftovers(), NOTHING_LEFT);
  });

  describe('bad input: error JSON with the right code, non-zero exit, nothing left behind', () => {
    const cases: Array<{ name: string; code: number; msg: RegExp; conf?: (fx: CniFixture) => unknown; env?: (netns: string) => { netns?: string; containerId: string; ifname?: string; args?: string }; command?: string }> = [
      { name: 'malformed config', code: 6, msg: /not valid JSON/, conf: () => '{"cniVersion": "1.0.0", "name": ' },
      { name: 'config without a name', code: 7, msg: /field "name" is missing/, conf: (f) => ({ ...f.conf(), name: undefined }) },
      { name: 'unsupported version', code: 1, msg: /CNI version "2\.0\.0" is not supported/, conf: (f) => f.conf({ cniVersion: '2.0.0' }) },
      { name: 'missing CNI_NETNS', code: 4, msg: /CNI_NETNS is not set/, env: () => ({ containerId: 'bad-1' }) },
      { name: 'missing CNI_CONTAINERID', code: 4, msg: /CNI_CONTAINERID is not set/, env: (n) => ({ netns: n, containerId: '' }) },
      { name: 'wrong CNI_IFNAME', code: 4, msg: /CNI_IFNAME "eth\/0" is not a valid interface name/, env: (n) => ({ netns: n, containerId: 'bad-2', ifname: 'eth/0' }) },
      { name: 'unknown CNI_COMMAND', code: 4, msg: /CNI_COMMAND "ADDD"/, command: 'ADDD' },
      { name: 'netns path that does not exist', code: 3, msg: /Network namespace "\/run\/netns\/brb-gone" \(CNI_NETNS\) does not exist/, env: () => ({ netns: '/run/netns/brb-gone', containerId: 'bad-3' }) },
      { name: 'exhausted pool', code: 100, msg: /brb-tiny/, conf: (f) => f.conf({ ipam: { type: 'brindle-ipam', ipv4_pools: ['brb-tiny'], assign_ipv6: false } }) },
    ];
    before(async () => {
      const tiny = { apiVersion: 'projectcalico.org/v3', kind: 'IPPool' as const, metadata: { name: 'brb-tiny' }, spec: { cidr: '10.92.0.0/30', blockSize: 30 } };
      const full: IPReservation = { apiVersion: 'projectcalico.org/v3', kind: 'IPReservation', metadata: { name: 'brb-tiny-full' }, spec: { reservedCIDRs: ['10.92.0.0/30'] } };
      await fx.apply(tiny, full);
    });
    for (const c of cases) {
      test(c.name, async () => {
        const p = await fx.pod();
        const r = await fx.exec(c.command ?? 'ADD', c.env ? c.env(p.path) : { netns: p.path, containerId: 'bad-0' }, { conf: c.conf ? c.conf(fx) : fx.conf() });
        assert.equal(r.exitCode, 1, r.stdout + r.stderr);
        assert.equal(r.json?.code, c.code, r.stdout);
        assert.match(String(r.json?.msg), c.msg);
        assert.deepEqual(await fx.leftovers(), NOTHING_LEFT);
        const links = await ipJson<IpAddrLink>(fx.runner, ['link', 'show'], { netns: p.path });
        assert.deepEqual(links.map((l) => l.ifname), ['lo'], 'the container namespace is untouched');
        await p.delete();
      });
    }
  });

  describe('killed inside ADD, then cleaned up', () => {
    for (const point of CRASH_POINTS) {
      test(`kill ${point}, then DEL: nothing leaked`, async () => {
        const p = await fx.pod();
        const pod = { netns: p.path, containerId: `crash-${point}`, args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=crash;K8S_POD_NAME=p' };
        const add = await fx.exec('ADD', pod, { env: { BRINDLE_CNI_CRASH_AT: point } });
        assert.equal(add.signal, 'SIGKILL', `${add.exitCode} ${add.stdout} ${add.stderr}`);
        assert.equal(add.stdout, '');
        const del = await fx.exec('DEL', pod);
        assert.equal(del.exitCode, 0, del.stdout + del.stderr);
        assert.deepEqual(await fx.leftovers(), NOTHING_LEFT);
        const links = await ipJson<IpAddrLink>(fx.runner, ['link', 'show'], { netns: p.path });
        assert.deepEqual(links.map((l) => l.ifname), ['lo']);
        await p.delete();
      });
    }

    test('kill after-ipam, the runtime deletes the namespace without DEL: IPAM GC frees the leak', async () => {
      const p = await fx.pod();
      const add = await fx.exec('ADD', { netns: p.path, containerId: 'crash-gc' }, { env: { BRINDLE_CNI_CRASH_AT: 'after-ipam' } });
      assert.equal(add.signal, 'SIGKILL');
      await p.delete(); // takes the veth pair (if the child ip made it) with it
      const before = await fx.leftovers();
      assert.ok(before.allocations > 0, 'the killed ADD held addresses');
      const r = await fx.store((ds) => new IpamGarbageCollector(new Ipam(ds), { gracePeriodMs: 0 }).runOnce());
      assert.ok(r.released.length > 0);
      assert.deepEqual(await fx.leftovers(), NOTHING_LEFT);
    });
  });
  describe('fast path: the shim hands calls to a CNI server in the same namespace', () => {
    const logPids = (): number[] =>
      readFileSync(join(fx.dir, 'cni.log'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { pid: number }).pid);

    test('ADD, errors and DEL go through the server; a server in another namespace or a dead one is bypassed', async () => {
      const server = await fx.startServer();
      try {
        const p = await fx.pod();
        const pod = { netns: p.path, containerId: 'fast-1', args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=fast;K8S_POD_NAME=f' };
        const add = await fx.exec('ADD', pod);
        assert.equal(add.exitCode, 0, add.stdout + add.stderr);
        assert.equal(logPids().at(-1), server.pid, 'the server did the ADD');
        const res = add.json as unknown as AddResult;
        const [eth0] = await ipJson<IpAddrLink>(fx.runner, ['addr', 'show', 'dev', 'eth0'], { netns: p.path });
        assert.ok((eth0.addr_info ?? []).some((a) => a.local === addrOf(res, 4)));
        const bad = await fx.exec('ADD', pod, { conf: '{"cniVersion": "1.0.0",' });
        assert.equal(bad.exitCode, 1);
        assert.equal(bad.json?.code, 6);
        // From a namespace that is not the server's: 421, and the bundle answers instead.
        const other = await fx.pod();
        const elsewhere = await execPluginIn(fx, other.path, 'DEL', { containerId: 'not-here', netns: other.path });
        assert.equal(elsewhere.exitCode, 0, elsewhere.stdout + elsewhere.stderr);
        assert.notEqual(logPids().at(-1), server.pid, 'the bundle, not the server, did the DEL from another namespace');
        const del = await fx.exec('DEL', pod);
        assert.equal(del.exitCode, 0, del.stdout + del.stderr);
        assert.equal(logPids().at(-1), server.pid);
        assert.deepEqual(await fx.leftovers(), NOTHING_LEFT);
        // A server killed hard leaves its socket file: the shim falls back to the bundle.
        server.kill('SIGKILL');
        await new Promise((r) => server.once('exit', r));
        const add2 = await fx.exec('ADD', { ...pod, containerId: 'fast-2' });
        assert.equal(add2.exitCode, 0, add2.stdout + add2.stderr);
        assert.notEqual(logPids().at(-1), server.pid);
        assert.equal((await fx.exec('DEL', { ...pod, containerId: 'fast-2' })).exitCode, 0);
        assert.deepEqual(await fx.leftovers(), NOTHING_LEFT);
      } finally {
        if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
      }
    });
  });
});

/** Runs the installed shim with another namespace as its host. */
function execPluginIn(fx: CniFixture, hostNetns: string, command: string, pod: { containerId: string; netns: string }) {
  return execPlugin({ binary: fx.bin, command, conf: fx.conf(), containerId: pod.containerId, netns: pod.netns, ifname: 'eth0', args: 'IgnoreUnknown=1', hostNetns });
}
