// Unit tests of the agent's small parts: address autodetection against canned `ip -json` output,
// the Prometheus text rendering, and the health server's answers.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeRunner } from '../os/index.ts';
import { startHealthServer } from './health-server.ts';
import { Counter, Gauge, Histogram, MetricsRegistry } from './metrics.ts';
import { detectNodeAddress, parseAutodetectMethod } from './node-address.ts';

const ADDRS = JSON.stringify([
  { ifindex: 1, ifname: 'lo', operstate: 'UNKNOWN', flags: ['LOOPBACK', 'UP'], addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
  { ifindex: 2, ifname: 'docker0', operstate: 'UP', flags: ['UP'], addr_info: [{ family: 'inet', local: '172.17.0.1', prefixlen: 16, scope: 'global' }] },
  { ifindex: 3, ifname: 'brv1234567890a', operstate: 'UP', flags: ['UP'], addr_info: [{ family: 'inet', local: '169.254.1.1', prefixlen: 32, scope: 'global' }] },
  { ifindex: 4, ifname: 'eth0', operstate: 'UP', flags: ['UP', 'LOWER_UP'], addr_info: [
    { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
    { family: 'inet', local: '192.168.7.5', prefixlen: 24, scope: 'global' },
    { family: 'inet6', local: 'fd00:7::5', prefixlen: 64, scope: 'global' },
  ] },
  { ifindex: 5, ifname: 'eth1', operstate: 'UP', flags: ['UP'], addr_info: [{ family: 'inet', local: '10.9.0.5', prefixlen: 16, scope: 'global' }] },
]);

function runner(): FakeRunner {
  return new FakeRunner()
    .on('ip -json addr show', { stdout: ADDRS })
    .on(/ip -json -4 route get 10\.9\.1\.1/, { stdout: JSON.stringify([{ dst: '10.9.1.1', dev: 'eth1', prefsrc: '10.9.0.5' }]) });
}

describe('node address autodetection', () => {
  it('first-found skips loopback, container bridges and workload interfaces', async () => {
    assert.equal(await detectNodeAddress(runner(), parseAutodetectMethod('first-found')), '192.168.7.5/24');
    assert.equal(await detectNodeAddress(runner(), parseAutodetectMethod('first-found'), 6), 'fd00:7::5/64');
  });
  it('interface=, skip-interface=, cidr= and can-reach= pick the address they name', async () => {
    assert.equal(await detectNodeAddress(runner(), parseAutodetectMethod('interface=eth1')), '10.9.0.5/16');
    assert.equal(await detectNodeAddress(runner(), parseAutodetectMethod('skip-interface=eth0')), '10.9.0.5/16');
    assert.equal(await detectNodeAddress(runner(), parseAutodetectMethod('cidr=10.0.0.0/8')), '10.9.0.5/16');
    assert.equal(await detectNodeAddress(runner(), parseAutodetectMethod('can-reach=10.9.1.1')), '10.9.0.5/16');
    assert.equal(await detectNodeAddress(runner(), parseAutodetectMethod('interface=wlan.*')), undefined);
  });
  it('bad methods are rejected with the accepted forms', () => {
    assert.throws(() => parseAutodetectMethod('guess'), /unknown method "guess".*first-found/);
    assert.throws(() => parseAutodetectMethod('cidr=10.0.0.300/8'), /10\.0\.0\.300/);
    assert.throws(() => parseAutodetectMethod('interface=(('), /bad interface pattern/);
    assert.throws(() => parseAutodetectMethod('can-reach='), /needs a destination/);
  });
});

describe('metrics and health endpoints', () => {
  it('renders counters, gauges and histograms in the Prometheus text format', () => {
    const reg = new MetricsRegistry();
    const c = reg.register(new Counter('brindle_apply_errors_total', 'Failed applies.'));
    const g = reg.register(new Gauge('brindle_active_local_endpoints', 'Local endpoints.'));
    const h = reg.register(new Histogram('brindle_dataplane_apply_seconds', 'Apply time.', [0.01, 0.1]));
    c.inc({ driver: 'nft' });
    c.inc({ driver: 'nft' }, 2);
    g.set(7);
    h.observe(0.005);
    h.observe(0.05);
    h.observe(3);
    const text = reg.render();
    assert.match(text, /# TYPE brindle_apply_errors_total counter\nbrindle_apply_errors_total\{driver="nft"\} 3\n/);
    assert.match(text, /brindle_active_local_endpoints 7\n/);
    assert.match(text, /brindle_dataplane_apply_seconds_bucket\{le="0.01"\} 1\n.*le="0.1"\} 2\n.*le="\+Inf"\} 3\n/s);
    assert.match(text, /brindle_dataplane_apply_seconds_count 3\n/);
    assert.throws(() => reg.register(new Gauge('brindle_active_local_endpoints', 'again')), /registered twice/);
  });

  it('answers /liveness, /readiness (503 until ready) and /metrics', async () => {
    let ready = false;
    const server = await startHealthServer({
      live: () => ({ ok: true, detail: 'loop turning' }),
      ready: () => ({ ok: ready, detail: ready ? 'in sync' : 'waiting for datastore' }),
      metrics: () => 'brindle_up 1\n',
    }, 0);
    try {
      const get = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
        return { status: res.status, body: await res.text() };
      };
      assert.deepEqual(await get('/liveness'), { status: 200, body: 'ok: loop turning\n' });
      assert.deepEqual(await get('/readiness'), { status: 503, body: 'not ok: waiting for datastore\n' });
      ready = true;
      assert.equal((await get('/readiness')).status, 200);
      assert.equal((await get('/metrics')).body, 'brindle_up 1\n');
      assert.equal((await get('/nope')).status, 404);
    } finally {
      await server.close();
    }
  });
});
