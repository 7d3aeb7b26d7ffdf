// Parser and table of BIRD's protocol status, on output captured from BIRD 2.0.12 running configs
// from this renderer (testdata/status-*.txt): a mesh session up beside an unreachable global peer, a
// peer refused for its AS number, and a peer whose TCP-MD5 password the other side does not share.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatBgpSessions, parseBirdProtocols, readBirdSessions } from './index.ts';
import { FakeRunner } from '../os/index.ts';

const read = (name: string) => readFileSync(fileURLToPath(new URL(`./testdata/${name}`, import.meta.url)), 'utf8');

describe('parseBirdProtocols', () => {
  it('mesh session up, global peer still connecting; non-BGP protocols skipped', () => {
    const s = parseBirdProtocols(read('status-mesh-up.txt'));
    assert.deepEqual(s.map((x) => [x.protocol, x.peerAddress, x.peerType, x.state, x.bgpState, x.since, x.neighborAs]), [
      ['Global_192_168_77_99', '192.168.77.99', 'global', 'start', 'Connect', '2026-11-26 08:09:43', 65000],
      ['Mesh_192_168_77_12', '192.168.77.12', 'mesh', 'up', 'Established', '2026-11-26 08:09:44', 64512],
    ]);
    assert.equal(s[1].localAs, 64512);
    assert.equal(s[1].description, 'mesh peer node n2');
  });
  it('reports "Bad peer AS" as the info and last error', () => {
    const [s] = parseBirdProtocols(read('status-bad-peer-as.txt'));
    assert.equal(s.bgpState, 'Idle');
    assert.match(s.info, /^Idle\s+BGP Error: Bad peer AS$/);
    assert.equal(s.lastError, 'BGP Error: Bad peer AS');
  });
  it('a password mismatch leaves the session in Connect with no error', () => {
    const [s] = parseBirdProtocols(read('status-password-mismatch.txt'));
    assert.deepEqual([s.peerAddress, s.bgpState, s.lastError], ['192.168.77.12', 'Connect', undefined]);
    // The renderer marks sessions that carry a password in their description; the table adds a hint.
    assert.match(formatBgpSessions([s]), /\n192\.168\.77\.12\s+global\s+start\s+\S+ \S+\s+Connect \(no answer: check that both sides use the same password\)\n/);
    assert.doesNotMatch(formatBgpSessions(parseBirdProtocols(read('status-mesh-up.txt'))), /password/);
  });
  it('reads IPv6 neighbours with a scope', () => {
    const text = 'Mesh_fd00__1 BGP        ---        up     2026-11-26 08:09:44  Established\n  BGP state:          Established\n    Neighbor address: fe80::1%eth0\n';
    const [s] = parseBirdProtocols(text);
    assert.deepEqual([s.peerAddress, s.family, s.peerType], ['fe80::1', 6, 'mesh']);
  });
});

describe('formatBgpSessions', () => {
  it('prints a table per family with peer type, state, since and info', () => {
    const text = formatBgpSessions(parseBirdProtocols(read('status-mesh-up.txt') + read('status-bad-peer-as.txt')));
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], 'IPv4 BGP status');
    assert.match(lines[1], /^PEER ADDRESS\s+PEER TYPE\s+STATE\s+SINCE\s+INFO$/);
    assert.match(lines[3], /^192\.168\.77\.12\s+node-to-node mesh\s+up\s+2026-11-26 08:09:44\s+Established$/);
    assert.match(lines[4], /^192\.168\.77\.12\s+global\s+start\s+2026-11-26 08:10:43\s+Idle\s+BGP Error: Bad peer AS$/);
    assert.equal(formatBgpSessions([]), 'No BGP sessions configured.\n');
  });
});

describe('readBirdSessions', () => {
  it('asks birdc on the given socket and names the socket when BIRD is not there', async () => {
    const runner = new FakeRunner();
    runner.on('birdc', { stdout: 'Unable to connect to server control socket (/x/bird.ctl): No such file or directory\n' });
    await assert.rejects(readBirdSessions('/x/bird.ctl', runner), /BIRD socket "\/x\/bird.ctl"/);
    assert.deepEqual(runner.calls[0].args, ['-s', '/x/bird.ctl', 'show', 'protocols', 'all']);
  });
});
