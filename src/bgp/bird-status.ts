// BGP session status read from BIRD's control socket: `birdc -s SOCK show protocols all` parsed into
// one record per BGP session (peer, type from the protocol name the renderer chose, state, since,
// info with BIRD's last error such as "BGP Error: Bad peer AS"), and the table `brindlectl node status`
// prints. A peer whose password does not match never answers (Linux drops TCP-MD5 mismatches), so
// such a session stays in Connect/Active with no error text (testdata/status-password-mismatch.txt);
// for sessions the renderer marked "with password" the table adds that hint.

import { CommandError, isIp } from '../lib/index.ts';
import type { IpFamily } from '../lib/index.ts';
import { ProcessRunner } from '../os/index.ts';
import type { CommandRunner } from '../os/index.ts';
import { PEER_PROTOCOL_PREFIX } from './bird-config.ts';
import type { PeerType } from './bird-config.ts';

export const PEER_TYPE_TEXT: Record<PeerType, string> = { mesh: 'node-to-node mesh', node: 'node specific', global: 'global' };

export interface BgpSession {
  /** BIRD protocol name, e.g. "Mesh_192_168_77_12". */
  protocol: string;
  peerAddress: string;
  family: IpFamily;
  /** How the session came about; undefined for protocols brindle did not name. */
  peerType?: PeerType;
  /** BIRD's protocol state: up, start, down, flush. */
  state: string;
  /** BGP finite-state-machine state: Idle, Connect, Active, OpenSent, OpenConfirm, Established. */
  bgpState: string;
  since: string;
  /** BIRD's info column (BGP state plus the last error, if any). */
  info: string;
  lastError?: string;
  neighborAs?: number;
  localAs?: number;
  description?: string;
}

const HEADER_RE = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?|\S+)\s*(.*?)\s*$/;

function peerTypeOf(protocol: string): PeerType | undefined {
  for (const [type, prefix] of Object.entries(PEER_PROTOCOL_PREFIX) as Array<[PeerType, string]>) {
    if (protocol.startsWith(prefix)) return type;
  }
  return undefined;
}

/** The BGP sessions in the output of `show protocols all` (other protocols are skipped). */
export function parseBirdProtocols(text: string): BgpSession[] {
  const sessions: BgpSession[] = [];
  let cur: BgpSession | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (line === '' || /^BIRD .* ready\.$/.test(line) || line.startsWith('Name ')) continue;
    if (!/^\s/.test(line)) {
      cur = undefined;
      const m = HEADER_RE.exec(line);
      if (!m || m[2] !== 'BGP') continue;
      const info = m[6];
      cur = {
        protocol: m[1],
        peerAddress: '',
        family: 4,
        peerType: peerTypeOf(m[1]),
        state: m[4],
        bgpState: info.split(/\s+/)[0] || '',
        since: m[5],
        info,
      };
      sessions.push(cur);
      continue;
    }
    if (!cur) continue;
    const kv = /^\s+([A-Za-z][A-Za-z ]*?):\s+(.*)$/.exec(line);
    if (!kv) continue;
    const [, key, value] = kv;
    switch (key) {
      case 'Neighbor address': {
        const ip = value.split('%')[0];
        if (isIp(ip)) {
          cur.peerAddress = ip;
          cur.family = ip.includes(':') ? 6 : 4;
        }
        break;
      }
      case 'Neighbor AS':
        cur.neighborAs = Number(value);
        break;
      case 'Local AS':
        cur.localAs = Number(value);
        break;
      case 'BGP state':
        cur.bgpState = value;
        break;
      case 'Last error':
        cur.lastError = value;
        break;
      case 'Description':
        cur.description = value;
        break;
      default:
        break;
    }
  }
  return sessions;
}

/** Runs `birdc -s SOCKET show protocols all` and parses it. */
export async function readBirdSessions(socketPath: string, runner: CommandRunner = new ProcessRunner(), birdc = 'birdc'): Promise<BgpSession[]> {
  let out;
  try {
    out = await runner.run(birdc, ['-s', socketPath, 'show', 'protocols', 'all'], { timeoutMs: 10_000 });
  } catch (err) {
    throw new CommandError(`cannot read BGP status from BIRD socket "${socketPath}": ${(err as Error).message}`, { cause: err });
  }
  if (/Unable to connect|No such file/.test(out.stdout + out.stderr)) {
    throw new CommandError(`cannot read BGP status from BIRD socket "${socketPath}": "${(out.stdout + out.stderr).trim()}"`);
  }
  return parseBirdProtocols(out.stdout);
}

/** Calico-style tables, one per address family: peer address, peer type, state, since, info. */
export function formatBgpSessions(sessions: readonly BgpSession[]): string {
  const out: string[] = [];
  for (const fam of [4, 6] as const) {
    const rows = sessions.filter((s) => s.family === fam);
    if (rows.length === 0) continue;
    const table = [
      ['PEER ADDRESS', 'PEER TYPE', 'STATE', 'SINCE', 'INFO'],
      ...rows.map((s) => {
        let info = s.info || s.bgpState;
        if (s.lastError && !info.includes(s.lastError)) info = `${info} (last error: ${s.lastError})`;
        if (/^(Connect|Active)$/.test(s.bgpState) && s.description?.includes('with password')) {
          info = `${info} (no answer: check that both sides use the same password)`;
        }
        return [s.peerAddress, s.peerType ? PEER_TYPE_TEXT[s.peerType] : s.protocol, s.state, s.since, info];
      }),
    ];
    const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
    if (out.length) out.push('');
    out.push(`IPv${fam} BGP status`);
    for (const r of table) out.push(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd());
  }
  if (out.length === 0) return 'No BGP sessions configured.\n';
  return `${out.join('\n')}\n`;
}
