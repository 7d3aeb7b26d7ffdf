// Real container runtimes calling the installed brindle-cni: podman 4 with its CNI backend and
// containerd's `ctr run --cni`, both started inside a throwaway host namespace and inside a private
// mount namespace whose tmpfs /run and /var/lib (and, for ctr, bind mounts over /opt/cni/bin and
// /etc/cni/net.d) keep every file they make out of the real system. Containers are busybox root file
// systems. Skipped with the reason when root, a runtime, runc or busybox is missing.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rootTestSkipReason } from '../os/index.ts';
import { createCniFixture, NOTHING_LEFT } from './cni-test-support.ts';
import type { CniFixture } from './cni-test-support.ts';

const BUSYBOX = '/bin/busybox';

/** A busybox root file system (applets as relative symlinks, so they resolve inside the container). */
function makeRootfs(dir: string): string {
  const root = join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  execFileSync('chmod', ['755', join(root, 'bin', 'busybox')]);
  for (const applet of execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n')) {
    if (applet && applet !== 'busybox' && !existsSync(join(root, 'bin', applet))) symlinkSync('busybox', join(root, 'bin', applet));
  }
  return root;
}

/** Runs a shell script in the host namespace and a private mount namespace; resolves with its output. */
function inPrivateMounts(host: string, script: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = 120_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${host}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b));
    child.stderr.on('data', (b: Buffer) => (out += b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** tmpfs over /run and /var/lib: runtimes' state, netns mounts and the CNI result cache stay private. */
const PRIVATE_STATE = 'mount -n -t tmpfs brb-run /run && mkdir -p /run/netns /run/lock && mount -n -t tmpfs brb-varlib /var/lib';

function podmanSkip(): string | undefined {
  return rootTestSkipReason(['ip', 'nsenter', 'unshare', 'podman', 'runc', BUSYBOX]);
}

function containerdSkip(): string | undefined {
  const r = rootTestSkipReason(['ip', 'nsenter', 'unshare', 'containerd', 'ctr', 'runc', BUSYBOX]);
  if (r) return r;
  if (!existsSync('/etc/cni/net.d') || !existsSync('/opt')) return 'ctr --cni reads /etc/cni/net.d and /opt/cni/bin; their mount points /etc/cni/net.d and /opt do not exist here';
  return undefined;
}

describe('podman with the CNI backend calls brindle-cni (root)', { skip: podmanSkip() }, () => {
  let fx: CniFixture;
  let rootfs: string;
  let conf: string;
  before(async () => {
    fx = await createCniFixture({ ipv6: false });
    rootfs = makeRootfs(fx.dir);
    conf = join(fx.dir, 'containers.conf');
    // podman's state, storage and CNI config all live in the fixture dir.
    writeFileSync(
      conf,
      [
        '[containers]',
        'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `events_logfile_path = "${fx.dir}/podman-events.log"`,
        'runtime = "runc"',
        `tmp_dir = "${fx.dir}/libpod-tmp"`,
        `static_dir = "${fx.dir}/libpod-static"`,
        `volume_path = "${fx.dir}/volumes"`,
        '[network]',
        'network_backend = "cni"',
        `cni_plugin_dirs = ["${fx.dir}/bin", "/usr/lib/cni"]`,
        `network_config_dir = "${fx.dir}/net.d"`,
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await fx?.close();
  });

  const podman = (args: string) =>
    `podman --root ${fx.dir}/storage --runroot ${fx.dir}/runroot --runtime-flag root=${fx.dir}/runc ${args}`;

  test('two containers on the brindle network get /32 addresses and ping each other; --rm DELs everything', async () => {
    const env = { ...process.env, CONTAINERS_CONF: conf, BRINDLE_CNI_SOCKET: join(fx.dir, 'no-server.sock') };
    const script = [
      PRIVATE_STATE,
      `${podman(`run -d --name brb-a --network brindle --rootfs ${rootfs} /bin/sh -c 'ip -o -4 addr show eth0 > /tmp/addr; sleep 60'`)} >/dev/null`,
      // The address, as the first container sees it, through podman exec.
      `for i in $(seq 100); do A=$(${podman('exec brb-a cat /tmp/addr')} 2>/dev/null | awk '{print $4}' | cut -d/ -f1); [ -n "$A" ] && break; sleep 0.1; done`,
      'echo "A=$A"',
      `${podman(`run --rm --name brb-b --network brindle --rootfs ${rootfs} /bin/sh -c "ip -o -4 addr show eth0; ip route; ping -c 1 -W 3 $A"`)}`,
      'echo "ping-rc=$?"',
      `${podman('rm -f -t 0 brb-a')} >/dev/null`,
      'echo done',
    ].join('\n');
    const r = await inPrivateMounts(fx.host.path, script, env);
    assert.equal(r.code, 0, r.out);
    const a = /A=(10\.91\.0\.\d+)/.exec(r.out)?.[1];
    assert.ok(a, `container A got no address from the brindle pool: ${r.out}`);
    assert.match(r.out, /eth0\s+inet 10\.91\.0\.\d+\/32/, 'container B has a /32 from the pool');
    assert.match(r.out, /default via 169\.254\.1\.1 dev eth0/);
    assert.match(r.out, /1 packets transmitted, 1 packets received/);
    assert.match(r.out, /ping-rc=0/);
    assert.match(r.out, /done/);
    const log = readFileSync(join(fx.dir, 'cni.log'), 'utf8');
    assert.match(log, /"cniCommand":"ADD".*"workload":"brb-a"/, 'podman passed K8S_POD_NAME=<container name>');
    assert.deepEqual(await fx.leftovers(), NOTHING_LEFT);
  });
});

describe('containerd `ctr run --cni` calls brindle-cni (root)', { skip: containerdSkip() }, () => {
  let fx: CniFixture;
  let rootfs: string;
  before(async () => {
    fx = await createCniFixture({ ipv6: false });
    rootfs = makeRootfs(fx.dir);
    mkdirSync(join(fx.dir, 'ctrd'), { recursive: true });
    writeFileSync(
      join(fx.dir, 'ctrd', 'config.toml'),
      [
        'version = 2',
        `root = "${fx.dir}/ctrd/root"`,
        `state = "${fx.dir}/ctrd/state"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = "${fx.dir}/ctrd/containerd.sock"`,
        '[ttrpc]',
        `  address = "${fx.dir}/ctrd/containerd.sock.ttrpc"`,
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await fx?.close();
  });

  test('a container gets a /32 and the gateway route; its DEL leaves nothing', async () => {
    const sock = `${fx.dir}/ctrd/containerd.sock`;
    const script = [
      PRIVATE_STATE,
      // ctr --cni only reads /opt/cni/bin and /etc/cni/net.d: show it ours, in this mount namespace only.
      `mount -n -t tmpfs brb-opt /opt && mkdir -p /opt/cni/bin && mount -n --bind ${fx.dir}/bin /opt/cni/bin && mount -n --bind ${fx.dir}/net.d /etc/cni/net.d`,
      `containerd --config ${fx.dir}/ctrd/config.toml > ${fx.dir}/ctrd/log 2>&1 & CPID=$!`,
      `for i in $(seq 100); do [ -S ${sock} ] && break; sleep 0.05; done`,
      `ctr --address ${sock} run --rm --cni --rootfs ${rootfs} brbctr1 /bin/sh -c 'ip -o -4 addr show eth0; ip route'`,
      'RC=$?',
      'kill $CPID; wait $CPID',
      'echo "ctr-rc=$RC"',
    ].join('\n');
    const r = await inPrivateMounts(fx.host.path, script, { ...process.env, BRINDLE_CNI_SOCKET: join(fx.dir, 'no-server.sock') });
    assert.match(r.out, /ctr-rc=0/, r.out);
    assert.match(r.out, /eth0\s+inet 10\.91\.0\.\d+\/32/);
    assert.match(r.out, /default via 169\.254\.1\.1 dev eth0/);
    const log = readFileSync(join(fx.dir, 'cni.log'), 'utf8');
    assert.match(log, /"cniCommand":"ADD".*"containerID":"default-brbctr1"/);
    assert.match(log, /"cniCommand":"DEL".*"containerID":"default-brbctr1"/);
    assert.deepEqual(await fx.leftovers(), NOTHING_LEFT);
  });
});
