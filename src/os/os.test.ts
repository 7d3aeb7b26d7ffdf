// Tests of the host-contact layer: the real command runner (exit codes, stdin, timeout, quoted
// errors), the fake runner, ip batch error attribution, sysctl paths, namespace checks, and (as
// root) throwaway namespaces that are gone after delete and after the owning process exits.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CommandFailure,
  FakeRunner,
  ProcessRunner,
  createTestHost,
  createThrowawayNetns,
  formatCommandLine,
  getLink,
  linkPresentHere,
  inNetns,
  ipBatch,
  ipJson,
  isNoSuchDevice,
  listRoutes,
  netnsState,
  readSysctlIn,
  rootTestSkipReason,
  sysctlPath,
  writeSysctls,
} from './index.ts';
import type { IpLink } from './index.ts';

const runner = new ProcessRunner();

test('ProcessRunner returns stdout/stderr and passes stdin', async () => {
  const r = await runner.run('sh', ['-c', 'read x; echo "got $x"; echo warn >&2'], { input: 'hello\n' });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'got hello\n');
  assert.equal(r.stderr, 'warn\n');
});

test('ProcessRunner failure quotes the command line, status and stderr', async () => {
  await assert.rejects(runner.run('sh', ['-c', 'echo "it broke" >&2; exit 3', 'a b']), (err: unknown) => {
    assert.ok(err instanceof CommandFailure);
    assert.equal(err.exitCode, 3);
    assert.equal(err.code, 'E_COMMAND');
    assert.equal(err.message, `Command "sh -c 'echo \"it broke\" >&2; exit 3' 'a b'" exited with status 3: "it broke"`);
    return true;
  });
});

test('ProcessRunner accepts okCodes, reports a missing program and kills on timeout', async () => {
  const r = await runner.run('sh', ['-c', 'exit 1'], { okCodes: [1] });
  assert.equal(r.code, 1);
  await assert.rejects(runner.run('/nonexistent/brb-tool', []), (err: unknown) => {
    assert.ok(err instanceof CommandFailure);
    assert.match(err.message, /^Command "\/nonexistent\/brb-tool" could not be started: ".*ENOENT/);
    return true;
  });
  const t0 = Date.now();
  await assert.rejects(runner.run('sleep', ['5'], { timeoutMs: 100 }), /timed out and was killed/);
  assert.ok(Date.now() - t0 < 4000);
});

test('formatCommandLine quotes only what needs it', () => {
  assert.equal(formatCommandLine('ip', ['-batch', '-']), 'ip -batch -');
  assert.equal(formatCommandLine('sh', ['-c', "echo 'x'"]), `sh -c 'echo '\\''x'\\'''`);
  assert.equal(formatCommandLine('a', ['']), "a ''");
});

test('FakeRunner records calls and answers by rule, failing like the real runner', async () => {
  const fake = new FakeRunner()
    .on('ip -json link show dev brvx', { stdout: '[{"ifindex":3,"ifname":"brvx"}]' })
    .on(/link show dev missing/, { code: 1, stderr: 'Device "missing" does not exist.' })
    .on('ip -batch', { code: 2 }, 1);
  const links = await ipJson<IpLink>(fake, ['link', 'show', 'dev', 'brvx']);
  assert.equal(links[0].ifname, 'brvx');
  assert.equal(await getLink(fake, 'missing'), undefined);
  await assert.rejects(ipBatch(fake, ['link add a type veth']), CommandFailure);
  await ipBatch(fake, ['link add a type veth']); // the failing rule applied once only
  assert.deepEqual(fake.calls.map((c) => c.line), [
    'ip -json link show dev brvx',
    'ip -json link show dev missing',
    'ip -batch -',
    'ip -batch -',
  ]);
  assert.equal(fake.calls[2].input, 'link add a type veth\n');
});

test('ipBatch names the failing batch line and the namespace', async () => {
  const fake = new FakeRunner().on('nsenter --net=/run/netns/x ip -batch -', {
    code: 1,
    stderr: 'Error: Device for nexthop is not up.\nCommand failed -:2\n',
  });
  await assert.rejects(ipBatch(fake, ['link set a up', 'route add 10.0.0.1/32 dev b'], { netns: '/run/netns/x' }), (err: unknown) => {
    assert.ok(err instanceof CommandFailure);
    assert.match(err.message, /Device for nexthop is not up\. \(batch line "route add 10\.0\.0\.1\/32 dev b" in network namespace "\/run\/netns\/x"\)/);
    return true;
  });
});

test('inNetns wraps a command in nsenter only when a namespace is given', () => {
  assert.deepEqual(inNetns(undefined, 'ip', ['link']), { command: 'ip', args: ['link'] });
  assert.deepEqual(inNetns('/proc/7/ns/net', 'ip', ['link']), { command: 'nsenter', args: ['--net=/proc/7/ns/net', 'ip', 'link'] });
});

test('sysctlPath maps dotted keys and rejects unsafe ones; writeSysctls in a namespace runs one shell', async () => {
  assert.equal(sysctlPath('net.ipv4.conf.brv1.proxy_arp'), '/proc/sys/net/ipv4/conf/brv1/proxy_arp');
  assert.equal(sysctlPath('net/ipv4/conf/eth0.100/forwarding'), '/proc/sys/net/ipv4/conf/eth0.100/forwarding');
  assert.throws(() => sysctlPath('net.ipv4;rm -rf /'), /Invalid sysctl key/);
  assert.throws(() => sysctlPath('../../etc/passwd'), /Invalid sysctl key/);
  const fake = new FakeRunner();
  await writeSysctls(fake, [['net.ipv6.conf.eth0.accept_dad', '0'], ['net.ipv4.conf.eth0.forwarding', '1']], { netns: '/run/netns/p' });
  assert.equal(fake.calls.length, 1);
  assert.deepEqual(fake.calls[0].args, [
    '--net=/run/netns/p',
    'sh',
    '-c',
    'printf %s 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad && printf %s 1 > /proc/sys/net/ipv4/conf/eth0/forwarding',
  ]);
  await assert.rejects(writeSysctls(fake, [['net.x', '1; reboot']], { netns: '/p' }), /Invalid sysctl value/);
});

test('netnsState tells a namespace from a missing path and an ordinary file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'brb-os-'));
  try {
    writeFileSync(join(dir, 'plain'), 'x');
    assert.equal(await netnsState('/proc/self/ns/net'), 'netns');
    assert.equal(await netnsState(join(dir, 'nope')), 'missing');
    assert.equal(await netnsState(join(dir, 'plain')), 'not-a-namespace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const skip = rootTestSkipReason();

test('throwaway namespaces: batch programming inside, read back, deleted by delete()', { skip }, async () => {
  const host = await createTestHost();
  try {
    assert.equal(await netnsState(host.path), 'netns');
    await host.ip(['link add brvostest type veth peer name brvostest2', 'link set brvostest up', 'link set brvostest2 up', 'route add 10.99.0.1/32 dev brvostest']);
    const link = await getLink(runner, 'brvostest', { netns: host.path });
    assert.equal(link?.ifname, 'brvostest');
    const routes = await listRoutes(runner, 4, { netns: host.path });
    assert.ok(routes.some((r) => r.dst === '10.99.0.1' && r.dev === 'brvostest'), JSON.stringify(routes));
    assert.ok(routes.some((r) => r.dst === 'default'), 'the test host has its default route');
    await writeSysctls(runner, [['net.ipv4.conf.brvostest.proxy_arp', '1']], { netns: host.path });
    assert.equal(await readSysctlIn(runner, 'net.ipv4.conf.brvostest.proxy_arp', host.path), '1');
    await assert.rejects(ipBatch(runner, ['link del nosuchlink'], { netns: host.path }), (err: unknown) => isNoSuchDevice(err));
  } finally {
    await host.delete();
  }
  assert.equal(await netnsState(host.path), 'missing');
  assert.equal(host.alive, false);
});

test('throwaway namespaces left undeleted are removed when the process exits', { skip }, () => {
  const script = `
    import { createThrowawayNetns } from ${JSON.stringify(new URL('./index.ts', import.meta.url).href)};
    const ns = await createThrowawayNetns('brb');
    console.log(ns.name);
    process.exit(3);
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 3, r.stderr);
  const name = r.stdout.trim();
  assert.match(name, /^brb-[0-9a-f]{8}$/);
  const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  assert.ok(!list.includes(name), `namespace "${name}" survived its process: ${list}`);
});

test('a throwaway namespace runs commands through nsenter', { skip }, async () => {
  const ns = await createThrowawayNetns();
  try {
    const r = await ns.run('ip', ['-json', 'link', 'show', 'lo']);
    assert.equal((JSON.parse(r.stdout) as IpLink[])[0].operstate, 'UNKNOWN');
  } finally {
    await ns.delete();
  }
});

test('linkPresentHere reads /proc/self/net/dev; unknown when unreadable', async () => {
  const fake = new FakeRunner();
  assert.equal(await linkPresentHere(fake, 'lo'), undefined);
  fake.procFiles.set('/proc/self/net/dev', 'Inter-|   Receive\n face |bytes\n    lo: 0 0\nbrv1234: 1 2\n');
  assert.equal(await linkPresentHere(fake, 'brv1234'), true);
  assert.equal(await linkPresentHere(fake, 'brv123'), false);
  assert.equal(await linkPresentHere(runner, 'lo'), true);
  assert.equal(await linkPresentHere(runner, 'brb-no-such-link'), false);
});
