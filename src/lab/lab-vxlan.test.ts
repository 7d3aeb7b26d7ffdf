// Root end-to-end test of VXLAN between hosts on the lab cluster (skipped with the reason when not root):
// with the pool's vxlanMode Always, each agent takes a tunnel address from IPAM and publishes it with its
// VTEP MAC on its Node; h1 then routes b's block through the VXLAN device to h2's tunnel address, and pod a
// on h1 reaches pod b on h2 over TCP and UDP.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil, VXLAN_DEVICE_V4, vxlanMacFor } from '../lib/index.ts';
import type { Node } from '../model/index.ts';
import { rootTestSkipReason } from '../os/index.ts';
import { createLabCluster } from './index.ts';
import type { ClusterProbe, LabCluster } from './index.ts';

const skip = rootTestSkipReason(['ip', 'nsenter', 'nft', 'curl']);

const until = <T>(what: string, fn: () => Promise<T | undefined | false>, deadlineMs: number): Promise<T> =>
  pollUntil(what, fn, deadlineMs, { intervalMs: 200 });

describe('lab cluster with VXLAN (root, two hosts)', { skip }, () => {
  let lab: LabCluster | undefined;
  after(async () => {
    await lab?.down();
  });

  test('tunnel addresses on the Nodes, routes via the VXLAN device, TCP and UDP across hosts', { timeout: 90_000 }, async () => {
    lab = await createLabCluster({ hosts: 2, encap: 'vxlan', poolCidr: '10.68.0.0/16' });
    const l = lab;
    const nodes = await until('both Nodes carry a VXLAN tunnel address', async () => {
      const list = await l.store(async (rs) => (await rs.list<Node>('Node')).items);
      return list.length === 2 && list.every((n) => n.spec.ipv4VXLANTunnelAddr) ? list : undefined;
    }, 20_000);
    const h2 = nodes.find((n) => n.metadata.name === 'h2')!;
    assert.match(h2.spec.ipv4VXLANTunnelAddr!, /^10\.68\./);
    assert.equal(h2.spec.vxlanTunnelMACAddr, vxlanMacFor('h2', 4));

    const a = await l.addPod({ name: 'a', host: 0, namespace: 'demo', labels: { app: 'a' } });
    const b = await l.addPod({ name: 'b', host: 1, namespace: 'demo', labels: { app: 'b' } });
    await l.startServer('b');

    // h1 reaches b's address through the VXLAN device, next hop h2's tunnel address.
    const tunnel = h2.spec.ipv4VXLANTunnelAddr!.split('/')[0].replace(/\./g, '\\.');
    const routeOk = new RegExp(`via ${tunnel} dev ${VXLAN_DEVICE_V4.replace(/\./g, '\\.')}`);
    const route = await until(`h1 routes ${b.ip} via the VXLAN device`, async () => {
      const r = (await l.run(a.host.path, 'ip', ['-4', 'route', 'get', b.ip])).stdout;
      return routeOk.test(r) ? r : undefined;
    }, 20_000);
    assert.match(route, routeOk);

    const probes: ClusterProbe[] = [{ to: 'b', proto: 'tcp', port: 80 }, { to: 'b', proto: 'udp', port: 53 }];
    const results = await until('a reaches b over TCP and UDP', async () => {
      const r = await l.probe('a', probes);
      return r.every((x) => x.ok) ? r : undefined;
    }, 20_000);
    assert.equal(results.length, 2);
    // The packets really crossed the tunnel: the device counted them on h1.
    const stats = (await l.run(a.host.path, 'ip', ['-s', '-j', 'link', 'show', VXLAN_DEVICE_V4])).stdout;
    const tx = (JSON.parse(stats) as Array<{ stats64: { tx: { packets: number } } }>)[0].stats64.tx.packets;
    assert.ok(tx > 0, `no packets sent on ${VXLAN_DEVICE_V4}: ${stats}`);
  });
});
