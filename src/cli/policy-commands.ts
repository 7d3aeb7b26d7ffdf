// `brindlectl policy trace`: why is a flow allowed or denied? Loads the store, runs the reference
// evaluator over the compiled rule programs (the ones the dataplane gets) and prints the path taken
// through tiers, policies, rules and profiles on the source's egress and the destination's ingress side,
// for enforced policy and for the pending view with staged policies applied.
//
//   --from/--to/--port ──► PolicyEvaluator(store resources) ──► FlowVerdict ──► text | json

import type { Command } from 'commander';
import { describeRule, PolicyEvaluator, protocolName, protocolNumber } from '../calc/index.ts';
import type { FlowSpec, FlowVerdict, ResolvedEndpoint, SideResult, SideVerdict } from '../calc/index.ts';
import type { IpSetSpec, WalkStep } from '../dataplane-api/index.ts';
import type { AnyResource } from '../model/index.ts';
import { CliError, EXIT_USAGE } from './io.ts';

export interface PolicyCommandDeps {
  loadResources(): Promise<AnyResource[]>;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** `80/TCP`, `53/udp`, `80` (TCP), `ICMP`, `ICMP/8` (echo request; `ICMP/3/4` type 3 code 4). */
export function parsePortSpec(text: string): Pick<FlowSpec, 'protocol' | 'port' | 'icmpType' | 'icmpCode'> {
  const parts = text.trim().split('/');
  const bad = () => new CliError(`--port "${text}": expected PORT[/PROTOCOL] (e.g. 80/TCP, 53/UDP) or ICMP[/TYPE[/CODE]]`, EXIT_USAGE);
  const isNum = (s: string | undefined) => s !== undefined && /^\d+$/.test(s);
  if (/^icmp(v6)?$/i.test(parts[0])) {
    if (parts.length > 3 || parts.slice(1).some((p) => !isNum(p))) throw bad();
    return {
      protocol: parts[0].toLowerCase() === 'icmp' ? 'ICMP' : 'ICMPv6',
      ...(parts[1] !== undefined ? { icmpType: Number(parts[1]) } : {}),
      ...(parts[2] !== undefined ? { icmpCode: Number(parts[2]) } : {}),
    };
  }
  if (parts.length > 2 || !isNum(parts[0])) throw bad();
  const port = Number(parts[0]);
  if (port < 1 || port > 65535) throw new CliError(`--port "${text}": port ${port} is out of range 1-65535`, EXIT_USAGE);
  const protocol = parts[1] ?? 'TCP';
  try {
    protocolNumber(protocol);
  } catch {
    throw new CliError(`--port "${text}": unknown protocol "${protocol}" (TCP, UDP, SCTP, UDPLite or a number)`, EXIT_USAGE);
  }
  return { protocol: protocol.toUpperCase(), port };
}

/** `TCP port 80`, `ICMP type 8 code 0`, with the source port when one was given. */
function flowText(v: FlowVerdict): string {
  const p = v.packet;
  const proto = protocolName(p.protocol).toUpperCase().replace('ICMPV6', 'ICMPv6').replace('UDPLITE', 'UDPLite');
  if (p.protocol === 1 || p.protocol === 58) {
    return `${proto}${p.icmpType !== undefined ? ` type ${p.icmpType}` : ''}${p.icmpCode !== undefined ? ` code ${p.icmpCode}` : ''}`;
  }
  return `${proto}${p.srcPort !== undefined ? ` from port ${p.srcPort}` : ''}${p.dstPort !== undefined ? ` port ${p.dstPort}` : ''}`;
}

function endpointText(e: ResolvedEndpoint): string {
  switch (e.kind) {
    case 'workload': return `${e.namespace}/${e.name} (${e.ip}${e.node ? `, node ${e.node}` : ''})`;
    case 'host': return `host endpoint ${e.name} (${e.ip}${e.node ? `, node ${e.node}` : ''})`;
    case 'address': return `${e.ip} (no endpoint)`;
  }
}

function decisionText(v: SideVerdict): string {
  const d = v.decision;
  switch (d.kind) {
    case 'policy-rule': return `by ${d.policy} rule ${d.ruleIndex} (tier ${d.tier})`;
    case 'missing-policy': return `policy ${d.policy} has no program (fail closed)`;
    case 'end-of-tier': return `end of tier ${d.tier}: no policy allowed it`;
    case 'profile-rule': return `by profile ${d.profile} rule ${d.ruleIndex}`;
    case 'no-profile-allowed': return d.profiles.length === 0 ? 'no policy decided and the endpoint has no profile' : `no policy decided and no profile allowed (${d.profiles.join(', ')})`;
    case 'no-verdict': return 'nothing decided';
    case 'not-policed': return 'not an endpoint brindle polices';
    case 'failsafe': return `failsafe port ${d.port}`;
  }
}

class TracePrinter {
  private readonly lines: string[] = [];
  private readonly ev: PolicyEvaluator;

  constructor(ev: PolicyEvaluator) {
    this.ev = ev;
  }

  private ipSet = (id: string): IpSetSpec | undefined => this.ev.state.ipSets.get(id)?.spec;

  private rule(owner: 'policy' | 'profile', id: string, direction: 'ingress' | 'egress', index: number): string {
    const prog = owner === 'policy' ? this.ev.state.policy(id) : this.ev.state.profile(id);
    const rule = prog?.[direction][index];
    return rule ? describeRule(rule, this.ipSet) : '(rule not found)';
  }

  private steps(steps: WalkStep[], direction: 'ingress' | 'egress', indent: string): void {
    let tier: string | undefined;
    for (const s of steps) {
      if (s.type === 'policy' || s.type === 'end-of-tier') {
        if (s.tier !== tier) {
          tier = s.tier;
          this.lines.push(`${indent}tier ${tier}`);
        }
      }
      const logged = (owner: 'policy' | 'profile', id: string, list: number[], at: string) => {
        for (const i of list) this.lines.push(`${at}rule ${i} LOG: ${this.rule(owner, id, direction, i)}`);
      };
      switch (s.type) {
        case 'policy':
          if (s.outcome === 'missing') { this.lines.push(`${indent}  ${s.policy}: no program (fail closed)`); break; }
          this.lines.push(`${indent}  ${s.policy}:`);
          logged('policy', s.policy, s.logged, `${indent}    `);
          if (s.outcome === 'no-match') this.lines.push(`${indent}    no rule matched`);
          else this.lines.push(`${indent}    rule ${s.ruleIndex} ${s.outcome.toUpperCase()}: ${this.rule('policy', s.policy, direction, s.ruleIndex as number)}`);
          break;
        case 'end-of-tier':
          this.lines.push(`${indent}  end of tier: ${s.action === 'deny' ? 'DENY (a policy applied and none allowed)' : 'pass to the next tier'}`);
          break;
        case 'profile':
          tier = undefined;
          if (s.outcome === 'missing') { this.lines.push(`${indent}profile ${s.profile}: not found (deny)`); break; }
          this.lines.push(`${indent}profile ${s.profile}:`);
          logged('profile', s.profile, s.logged, `${indent}  `);
          if (s.outcome === 'no-match') this.lines.push(`${indent}  no rule matched`);
          else this.lines.push(`${indent}  rule ${s.ruleIndex} ${s.outcome.toUpperCase()}: ${this.rule('profile', s.profile, direction, s.ruleIndex as number)}`);
          break;
      }
    }
  }

  private side(title: string, r: SideResult): void {
    this.lines.push(`${title} of ${endpointText(r.endpoint)}`);
    const show = (label: string, v: SideVerdict) => {
      this.lines.push(`  ${label}: ${v.verdict.toUpperCase()} ${decisionText(v)}`);
      if (v.steps.length === 0 && v.decision.kind === 'no-profile-allowed') this.lines.push('    (no policy applies)');
      this.steps(v.steps, r.direction, '    ');
    };
    show('enforced', r.enforced);
    if (JSON.stringify(r.pending) === JSON.stringify(r.enforced)) this.lines.push('  with staged policies: same path');
    else show('with staged policies', r.pending);
  }

  print(v: FlowVerdict, flowText: string): string {
    this.lines.push(`Flow ${endpointText(v.from)} -> ${endpointText(v.to)} ${flowText}`, '');
    this.side('Egress', v.egress);
    this.lines.push('');
    this.side('Ingress', v.ingress);
    this.lines.push('');
    this.lines.push(`Verdict: ${v.allowed ? 'ALLOWED' : 'DENIED'}${v.allowed === v.pendingAllowed ? '' : ` (with staged policies: ${v.pendingAllowed ? 'ALLOWED' : 'DENIED'})`}`);
    for (const p of this.ev.problems) this.lines.push(`note: ${p.resource} ignored: ${p.message}`);
    return `${this.lines.join('\n')}\n`;
  }
}

export function registerPolicyCommands(program: Command, deps: PolicyCommandDeps): void {
  const policy = program.command('policy').description('inspect how policy applies to traffic');
  policy
    .command('trace')
    .description('show the path a flow takes through tiers, policies and profiles on both sides')
    .requiredOption('--from <endpoint>', 'source: NAMESPACE/POD, hep:NAME or an IP address')
    .requiredOption('--to <endpoint>', 'destination: NAMESPACE/POD, hep:NAME or an IP address')
    .option('--port <port>', 'destination port and protocol: 80/TCP, 53/UDP, 132/SCTP, ICMP/8', '80/TCP')
    .option('--src-port <port>', 'source port (for rules that match source ports)')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (opts: { from: string; to: string; port: string; srcPort?: string; output: string }) => {
      if (opts.output !== 'text' && opts.output !== 'json') {
        throw new CliError(`unknown output format "${opts.output}" (expected text or json)`, EXIT_USAGE);
      }
      const portSpec = parsePortSpec(opts.port);
      let srcPort: number | undefined;
      if (opts.srcPort !== undefined) {
        srcPort = Number(opts.srcPort);
        if (!/^\d+$/.test(opts.srcPort) || srcPort < 1 || srcPort > 65535) throw new CliError(`--src-port "${opts.srcPort}": expected a port 1-65535`, EXIT_USAGE);
      }
      const ev = new PolicyEvaluator(await deps.loadResources());
      const verdict = ev.evaluate({ from: opts.from, to: opts.to, ...portSpec, ...(srcPort !== undefined ? { srcPort } : {}) });
      if (opts.output === 'json') {
        deps.stdout(`${JSON.stringify({ ...verdict, problems: ev.problems }, null, 2)}\n`);
        return;
      }
      deps.stdout(new TracePrinter(ev).print(verdict, flowText(verdict)));
    });
}
