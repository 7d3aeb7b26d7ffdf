// Root tests of the nftables driver in throwaway namespaces (skipped with the reason when not root):
// real TCP/UDP/ICMP packets between workload namespaces follow the reference walk of the same messages;
// steady-state changes are small transactions; unknown interfaces and spoofed sources are dropped;
// drift (flushed chain, deleted elements, foreign rules/chains, deleted table) is repaired by resync;
// a restarted driver reconciles in place without touching an unchanged table.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NFT_MAPS, nftIpSetName, nftWorkloadChain } from '../lib/index.ts';
import { CommandFailure, ProcessRunner, TEST_HOST_UPLINK, createTestHost, missingTools, rootTestSkipReason } from '../os/index.ts';
import type { DataplaneMessage, WorkloadEndpointState } from '../dataplane-api/index.ts';
import { NftablesDriver } from './nftables-driver.ts';
import { createLab } from './test-lab.ts';
import type { Lab } from './test-lab.ts';
import {
  SCENARIO_PODS, expectedVerdict, scenarioEndpoints, scenarioMessages, stateOf, webPolicy,
} from './policy-scenario.ts';
import type { Flow, ScenarioPod } from './policy-scenario.ts';
import { PROBE_TCP_PORTS, PROBE_UDP_PORTS } from './test-lab.ts';

const skip = rootTestSkipReason(['ip', 'nsenter', 'nft']);
const runner = new ProcessRunner();

function flowsBetween(from: ScenarioPod[], to: ScenarioPod[]): Flow[] {
  const out: Flow[] = [];
  for (const f of from) {
    for (const t of to) {
      if (f === t) continue;
      for (const family of [4, 6] as const) {
        for (const port of PROBE_TCP_PORTS) out.push({ from: f, to: t, family, proto: 'tcp', port });
        for (const port of PROBE_UDP_PORTS) out.push({ from: f, to: t, family, proto: 'udp', port });
      }
    }
  }
  return out;
}

/** Runs every flow (one client process per source) and returns the ones whose outcome differs from `expect`. */
async function mismatches(lab: Lab, flows: Flow[], expect: (f: Flow) => boolean): Promise<string[]> {
  const bySource = new Map<string, Flow[]>();
  for (const f of flows) bySource.set(f.from.name, [...(bySource.get(f.from.name) ?? []), f]);
  const out: string[] = [];
  await Promise.all([...bySource].map(async ([src, list]) => {
    const results = await lab.probe(src, list.map((f) => ({ to: f.family === 4 ? f.to.v4 : f.to.v6, proto: f.proto, port: f.port })));
    results.forEach((r, i) => {
      const f = list[i];
      const want = expect(f);
      if (r.ok !== want) out.push(`${f.from.name}->${f.to.name} v${f.family} ${f.proto}/${f.port}: kernel ${r.ok ? 'allowed' : `denied (${r.error})`}, walk ${want ? 'allows' : 'denies'}`);
    });
  }));
  return out.sort();
}

async function ping(lab: Lab, from: string, to: string): Promise<boolean> {
  try {
    await lab.run(from, 'ping', ['-c', '1', '-W', '1', to]);
    return true;
  } catch (err) {
    if (err instanceof CommandFailure) return false;
    throw err;
  }
}

describe('nftables driver (root, throwaway namespaces)', { skip }, () => {
  test('packets follow the reference walk; small transactions; fail closed; anti-spoofing; log continues', async (t) => {
    const lab = await createLab(runner);
    t.after(() => lab.close());
    const [a, b, c, d] = SCENARIO_PODS;
    for (const p of SCENARIO_PODS) await lab.addPod({ ...p, ...(p === a ? { extraV4: ['10.65.0.50'] } : {}) });
    const unknown = { name: 'u', v4: '10.65.0.9', v6: 'fd00:65::9', iface: 'brvscenu' };
    await lab.addPod(unknown);
    for (const p of [...SCENARIO_PODS, unknown]) await lab.startServer(p.name);

    const driver = new NftablesDriver({ runner, netns: lab.hostPath });
    const messages: DataplaneMessage[] = scenarioMessages();
    const first = await driver.apply(messages);
    assert.equal(first.readBack, true, 'the first programming reads the kernel');
    let state = stateOf(messages);

    const all = flowsBetween(SCENARIO_PODS, SCENARIO_PODS);
    const expected = all.map((f) => expectedVerdict(state, f));
    assert.ok(expected.includes(true) && expected.includes(false), 'the scenario has allowed and denied flows');
    assert.deepEqual(await mismatches(lab, all, (f) => expectedVerdict(state, f)), []);

    // Unknown workload interface: dropped both ways, although its namespace is wired and serving.
    const toUnknown = await lab.probe('a', [{ to: unknown.v4, proto: 'tcp', port: 80 }, { to: unknown.v6, proto: 'udp', port: 53 }]);
    assert.deepEqual(toUnknown.map((r) => r.ok), [false, false]);
    const fromUnknown = await lab.probe('u', [{ to: c.v4, proto: 'tcp', port: 80 }, { to: c.v6, proto: 'tcp', port: 80 }]);
    assert.deepEqual(fromUnknown.map((r) => r.ok), [false, false]);

    // Workload → this host: the workload's egress policy applies, then the endpoint-to-host action
    // (accept). Nothing listens on the host, so "allowed" shows as a refused connection, "denied" as silence.
    const hostAddr = TEST_HOST_UPLINK.address.split('/')[0];
    const toHost = await lab.probe('a', [{ to: hostAddr, proto: 'tcp', port: 80 }, { to: hostAddr, proto: 'tcp', port: 9090 }]);
    assert.deepEqual(toHost.map((r) => r.error), ['ECONNREFUSED', 'timeout'], 'a may reach the host on 80, its egress policy denies 9090');
    assert.equal((await lab.probe('u', [{ to: hostAddr, proto: 'tcp', port: 80 }]))[0].error, 'timeout', 'an unknown workload cannot reach the host');

    // ICMP: c's second profile allows echo requests (after p1 passed over them), b's tiers do not.
    if (missingTools(['ping']).length === 0) {
      assert.equal(await ping(lab, 'a', c.v4), true);
      assert.equal(await ping(lab, 'a', c.v6), true);
      assert.equal(await ping(lab, 'a', b.v4), false);
    }

    // Log continues: b's security tier logs every packet, and a->b TCP/80 was still allowed after it.
    const counters = await driver.counters();
    const logRule = counters.find((x) => x.comment.startsWith('security/sec-pass ingress#0 log'));
    assert.ok(logRule && logRule.packets > 0, `log rule counted packets: ${JSON.stringify(logRule)}`);

    // Anti-spoofing: a sends from 10.65.0.50, which it does not own; c never sees it until it is allowed.
    const spoofed = { to: c.v4, proto: 'tcp' as const, port: 80, from: '10.65.0.50' };
    assert.equal((await lab.probe('a', [spoofed]))[0].ok, false);
    assert.ok(!lab.serverArrivals('c').some((l) => l.includes('10.65.0.50')), 'the spoofed SYN never reached c');
    const aEp = scenarioEndpoints()[0];
    const spoofOk: WorkloadEndpointState = { ...aEp, allowSpoofedSourcePrefixes: ['10.65.0.50/32'] };
    const spoofChange = await driver.apply([{ type: 'WorkloadEndpointUpdate', id: aEp.id, endpoint: spoofOk }]);
    assert.deepEqual(spoofChange.summary, {
      fullReplace: 0, setsAdded: 0, setsRemoved: 0, chainsAdded: 0, chainsRefilled: 1, chainsRemoved: 0, elementsAdded: 0, elementsRemoved: 0,
    });
    assert.equal((await lab.probe('a', [spoofed]))[0].ok, true);

    // Steady state: widening one policy is one chain flush+refill, nothing else.
    const change: DataplaneMessage[] = [{ type: 'ActivePolicyUpdate', id: 'web', policy: webPolicy([443]) }];
    const widened = await driver.apply(change);
    assert.equal(widened.readBack, false);
    assert.deepEqual(widened.summary, {
      fullReplace: 0, setsAdded: 0, setsRemoved: 0, chainsAdded: 0, chainsRefilled: 1, chainsRemoved: 0, elementsAdded: 0, elementsRemoved: 0,
    });
    assert.match(widened.script, /^flush chain inet brindle pol-i-[0-9a-f]{16}\n(add rule .*\n){4}$/);
    messages.push(...change);
    state = stateOf(messages);
    const toB = flowsBetween([a, c, d], [b]);
    assert.ok(toB.some((f) => f.port === 443 && expectedVerdict(state, f)), 'a->b 443 is now allowed by the walk');
    assert.deepEqual(await mismatches(lab, toB, (f) => expectedVerdict(state, f)), []);

    // An IP set member change is an element delta only: c joins s-client, so the security tier passes it.
    const delta: DataplaneMessage[] = [{ type: 'IpSetDeltaUpdate', id: 's-client', added: [`${c.v4}/32`], removed: [] }];
    const deltaResult = await driver.apply(delta);
    assert.deepEqual(deltaResult.summary, {
      fullReplace: 0, setsAdded: 0, setsRemoved: 0, chainsAdded: 0, chainsRefilled: 0, chainsRemoved: 0, elementsAdded: 1, elementsRemoved: 0,
    });
    messages.push(...delta);
    state = stateOf(messages);
    assert.deepEqual(await mismatches(lab, flowsBetween([c], [b]), (f) => expectedVerdict(state, f)), []);

    // The endpoint goes away: its interface is unknown again and fails closed (map elements and chains removed).
    const removal: DataplaneMessage[] = [{ type: 'WorkloadEndpointRemove', id: 'wep/c' }];
    const removed = await driver.apply(removal);
    assert.deepEqual(removed.summary, {
      fullReplace: 0, setsAdded: 0, setsRemoved: 0, chainsAdded: 0, chainsRefilled: 0, chainsRemoved: 2, elementsAdded: 0, elementsRemoved: 2,
    });
    messages.push(...removal);
    state = stateOf(messages);
    assert.deepEqual(await mismatches(lab, flowsBetween([a, b], [c]), (f) => expectedVerdict(state, f)), []);
  });

  test('render, apply, read back; drift is repaired by resync; a restarted driver changes nothing', async (t) => {
    const host = await createTestHost('brd', runner);
    t.after(() => host.delete());
    const nft = (args: string[]) => host.run('nft', args);
    const driver = new NftablesDriver({ runner, netns: host.path });
    assert.equal((await driver.apply(scenarioMessages().slice(0, -1))).deferred, true, 'nothing is written before InSync');
    await assert.rejects(nft(['list', 'table', 'inet', 'brindle']), 'no table before InSync');
    await driver.apply([{ type: 'InSync' }]);

    const clean = await driver.resync();
    assert.equal(clean.script, '', 'read back equals what was rendered');

    const wlB = nftWorkloadChain('brvscenb', 'ingress');
    const hostsSet = nftIpSetName('s-client', 'hosts', 4);
    const repairs: Array<{ what: string; drift: string[]; expect: RegExp }> = [
      { what: 'flushed chain', drift: ['flush', 'chain', 'inet', 'brindle', wlB], expect: new RegExp(`^flush chain inet brindle ${wlB}$`, 'm') },
      { what: 'deleted element', drift: ['delete', 'element', 'inet', 'brindle', hostsSet, '{ 10.65.0.1 }'], expect: new RegExp(`^add element inet brindle ${hostsSet} \\{ 10\\.65\\.0\\.1 \\}$`, 'm') },
      { what: 'foreign rule in our chain', drift: ['insert', 'rule', 'inet', 'brindle', wlB, 'accept'], expect: new RegExp(`^flush chain inet brindle ${wlB}$`, 'm') },
      { what: 'foreign chain in our table', drift: ['add', 'chain', 'inet', 'brindle', 'intruder'], expect: /^delete chain inet brindle intruder$/m },
      { what: 'deleted map element', drift: ['delete', 'element', 'inet', 'brindle', NFT_MAPS.workloadTo, '{ "brvscena" }'], expect: /^add element inet brindle wl-to \{ "brvscena" : jump wl-i-brvscena \}$/m },
      { what: 'base chain policy changed', drift: ['chain', 'inet', 'brindle', 'forward', '{ policy drop; }'], expect: /^delete chain inet brindle forward\nadd chain inet brindle forward \{ type filter hook forward priority 0; policy accept; \}$/m },
      { what: 'table deleted', drift: ['delete', 'table', 'inet', 'brindle'], expect: /^add table inet brindle\n/ },
    ];
    for (const r of repairs) {
      await nft(r.drift);
      const repaired = await driver.resync();
      assert.match(repaired.script, r.expect, `${r.what}: repair script\n${repaired.script}`);
      assert.equal((await driver.resync()).script, '', `${r.what}: nothing left to repair`);
    }

    // Restart in place: a new driver with the same state leaves the kernel alone.
    const restarted = new NftablesDriver({ runner, netns: host.path });
    const again = await restarted.apply(scenarioMessages());
    assert.equal(again.readBack, true);
    assert.equal(again.script, '');
    // ...and a restart with one policy changed touches only that policy's chain.
    const changed = new NftablesDriver({ runner, netns: host.path });
    const msgs = scenarioMessages();
    const i = msgs.findIndex((m) => m.type === 'ActivePolicyUpdate' && m.id === 'web');
    msgs[i] = { type: 'ActivePolicyUpdate', id: 'web', policy: webPolicy([8443]) };
    const partial = await changed.apply(msgs);
    assert.equal(partial.summary.chainsRefilled, 1);
    assert.equal(partial.summary.chainsAdded + partial.summary.chainsRemoved + partial.summary.elementsAdded + partial.summary.elementsRemoved, 0);
  });

  test('a transaction nft refuses leaves the kernel as it was and the next apply reconciles from a readback', async (t) => {
    const host = await createTestHost('brd', runner);
    t.after(() => host.delete());
    const driver = new NftablesDriver({ runner, netns: host.path });
    await driver.apply(scenarioMessages());
    // The table disappears behind the driver's back, so the next incremental transaction (an element
    // add to a set that no longer exists) is refused as a whole.
    const hostsSet = nftIpSetName('s-client', 'hosts', 4);
    await host.run('nft', ['delete', 'table', 'inet', 'brindle']);
    await assert.rejects(
      driver.apply([{ type: 'IpSetDeltaUpdate', id: 's-client', added: ['10.65.0.77/32'], removed: [] }]),
      (err: unknown) => err instanceof CommandFailure && /nft/.test(err.message),
    );
    const next = await driver.apply([]);
    assert.equal(next.readBack, true);
    assert.match(next.script, /^add table inet brindle\n/);
    const listed = await host.run('nft', ['list', 'set', 'inet', 'brindle', hostsSet]);
    assert.match(listed.stdout, /10\.65\.0\.77/);
  });
});
