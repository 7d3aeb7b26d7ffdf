// Root end-to-end test on the lab cluster (skipped with the reason when not root): two hosts on one
// subnet, each running brindle-agent, pods a (h1) and b (h2) wired by the CNI plugin; TCP and UDP a→b
// cross the hosts over the direct routes the agents program between their blocks; a policy applied
// with brindlectl allows only TCP 8080 into b, and every probe agrees with `brindlectl policy trace`
// for the same pair; deleting the policy brings traffic back; down() leaves no namespace behind.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rootTestSkipReason } from '../os/index.ts';
import { createLabCluster } from './index.ts';
import type { ClusterProbe, LabCluster } from './index.ts';
import { pollUntil } from '../lib/index.ts';

const skip = rootTestSkipReason(['ip', 'nsenter', 'nft', 'curl']);

const POLICY = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: b-only-8080, namespace: demo}
spec:
  selector: app == 'b'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: [8080]}
`;

const until = (what: string, fn: () => Promise<boolean>, deadlineMs: number): Promise<true> =>
  pollUntil(what, fn as () => Promise<true | false>, deadlineMs, { intervalMs: 200 });

function netnsNames(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
}

describe('lab cluster end to end (root, two hosts, CNI-wired pods)', { skip }, () => {
  let lab: LabCluster | undefined;
  after(async () => {
    await lab?.down();
  });

  test('direct routes between hosts, policy from brindlectl matches its trace, delete restores traffic', { timeout: 90_000 }, async () => {
    lab = await createLabCluster({ hosts: 2 });
    const a = await lab.addPod({ name: 'a', host: 0, namespace: 'demo', labels: { app: 'a' } });
    const b = await lab.addPod({ name: 'b', host: 1, namespace: 'demo', labels: { app: 'b' } });
    assert.equal(a.host.node, 'h1');
    assert.equal(b.host.node, 'h2');
    assert.notEqual(a.ip, b.ip);
    await lab.startServer('a');
    await lab.startServer('b');

    // h1 routes b's block straight to h2's uplink address (no encapsulation device).
    const routes = (await lab.run(a.host.path, 'ip', ['-4', 'route', 'show', 'proto', '80'])).stdout;
    assert.match(routes, new RegExp(`via ${b.host.address.replace(/\./g, '\\.')} dev brlup0`), `h1 routes:\n${routes}`);

    const probes: ClusterProbe[] = [
      { to: 'b', proto: 'tcp', port: 80 }, { to: 'b', proto: 'tcp', port: 8080 },
      { to: 'b', proto: 'udp', port: 53 }, { to: 'b', proto: 'udp', port: 5353 },
    ];
    const okAll = async () => (await lab!.probe('a', probes)).every((r) => r.ok);
    await until('a reaches b on every probe (no policy)', okAll, 20_000);

    const apply = await lab.cli(['apply', '-f', '-'], POLICY);
    assert.equal(apply.code, 0, apply.err);

    // The trace's verdict for each pair, from brindlectl against the same store.
    const traced = async (from: string, to: string, p: ClusterProbe): Promise<boolean> => {
      const r = await lab!.cli(['policy', 'trace', '--from', from, '--to', to, '--port', `${p.port}/${p.proto.toUpperCase()}`, '-o', 'json']);
      assert.equal(r.code, 0, r.err);
      return (JSON.parse(r.out) as { allowed: boolean }).allowed;
    };
    const expected = await Promise.all(probes.map((p) => traced('demo/a', 'demo/b', p)));
    // The policy allows only TCP 8080 into b: the trace must say so, or the comparison proves nothing.
    assert.deepEqual(expected, [false, true, false, false]);
    const reverse: ClusterProbe = { to: 'a', proto: 'tcp', port: 80 };
    assert.equal(await traced('demo/b', 'demo/a', reverse), true, 'b→a is not selected by the policy');

    const matchesTrace = async (): Promise<boolean> => {
      const got = (await lab!.probe('a', probes)).map((r) => r.ok);
      const [back] = await lab!.probe('b', [reverse]);
      return JSON.stringify(got) === JSON.stringify(expected) && back.ok;
    };
    await until('probes a→b match brindlectl policy trace', matchesTrace, 20_000);
    // Stable: a second round agrees too (a UDP reply that merely got lost would not repeat).
    const again = await lab.probe('a', probes, 1000);
    assert.deepEqual(again.map((r) => r.ok), expected, JSON.stringify(again));

    const del = await lab.cli(['delete', 'networkpolicy', 'b-only-8080', '-n', 'demo']);
    assert.equal(del.code, 0, del.err);
    assert.deepEqual(await Promise.all(probes.map((p) => traced('demo/a', 'demo/b', p))), [true, true, true, true]);
    await until('a reaches b on every probe again', okAll, 20_000);

    const names = lab.hosts.map((h) => h.netns).concat([lab.fabric.netns, a.netns, b.netns]);
    const dir = lab.dir;
    await lab.down();
    const left = netnsNames().filter((n) => names.includes(n));
    assert.deepEqual(left, [], 'down() deletes every namespace');
    assert.equal(existsSync(dir), false, 'down() removes the temp dir');
    assert.ok(lab.hosts.every((h) => h.agent?.exitCode !== null || h.agent?.signalCode !== null), 'agents stopped');
  });
});
