// `brindlectl ipam show | check | release | configure`: how full the pools and blocks are, where one
// address went, which allocations leaked (with a JSON report file), releasing them, and the IPAM
// configuration (strictAffinity, maxBlocksPerHost). All the logic lives in src/ipam; this file parses
// flags and prints.
//
//   brindlectl ipam ... ──► CommandContext.store ──► Ipam / checkIpam / releaseFromReport ──► Datastore

import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidError, ipToString, tryParseCidr, tryParseIp } from '../lib/index.ts';
import { checkIpam, Ipam, parseCheckReport, releaseFromReport } from '../ipam/index.ts';
import type { IpamCheckReport, IpamConfig, IpamUsage } from '../ipam/index.ts';
import type { WorkloadEndpoint } from '../model/index.ts';
import { CliError, EXIT_USAGE } from './io.ts';
import { formatTable } from './printers.ts';
import type { CommandContext } from './resource-commands.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

function percent(part: bigint, whole: bigint): string {
  if (whole === 0n) return '0%';
  const tenths = Number((part * 2000n / whole + 1n) / 2n); // rounded to a tenth of a percent
  return `${(tenths / 10).toFixed(tenths % 10 === 0 ? 0 : 1)}%`;
}

function parseBool(flag: string, value: string): boolean {
  if (/^(true|yes|1)$/i.test(value)) return true;
  if (/^(false|no|0)$/i.test(value)) return false;
  throw new CliError(`${flag}: expected true or false, got "${value}"`, EXIT_USAGE);
}

function describeConfig(c: IpamConfig): string {
  return (
    `strictAffinity: ${c.strictAffinity}\n` +
    `maxBlocksPerHost: ${c.maxBlocksPerHost}${c.maxBlocksPerHost === 0 ? ' (no limit)' : ''}\n` +
    `autoAllocateBlocks: ${c.autoAllocateBlocks}\n`
  );
}

/** JSON cannot hold bigints: pool sizes (IPv6 pools exceed 2^53) are printed as strings. */
function usageJson(u: IpamUsage): string {
  return `${JSON.stringify(u, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`;
}

export function formatUsage(u: IpamUsage, showBlocks: boolean): string {
  let text = formatTable(
    ['POOL', 'CIDR', 'BLOCK SIZE', 'IPS TOTAL', 'IN USE', 'RESERVED', 'FREE', 'BLOCKS', 'DISABLED'],
    u.pools.map((p) => [
      p.name,
      p.cidr,
      `/${p.blockSize}`,
      p.total.toString(),
      `${p.inUse} (${percent(p.inUse, p.total)})`,
      p.reserved.toString(),
      `${p.free} (${percent(p.free, p.total)})`,
      String(p.blocks),
      p.disabled ? 'true' : 'false',
    ]),
  );
  if (u.pools.length === 0) text = 'No IP pools.\n';
  if (showBlocks) {
    text += '\n';
    text +=
      u.blocks.length === 0
        ? 'No blocks allocated yet.\n'
        : formatTable(
            ['BLOCK', 'POOL', 'HOST', 'IPS TOTAL', 'IN USE', 'RESERVED', 'FREE'],
            u.blocks.map((b) => [
              b.cidr,
              b.pool ?? '(no pool)',
              b.host ?? '(none)',
              String(b.size),
              `${b.allocated} (${percent(BigInt(b.allocated), BigInt(b.size))})`,
              String(b.reserved),
              String(b.free),
            ]),
          );
  }
  return text;
}

export function formatCheckSummary(r: IpamCheckReport): string {
  const s = r.summary;
  const lines: string[] = [
    `Checked ${s.pools} pool(s), ${s.blocks} block(s), ${s.allocations} allocation(s) and ${s.endpoints} endpoint(s) at store revision ${r.revision}.`,
  ];
  const attrs = (a: Record<string, string>) =>
    Object.entries(a)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
  lines.push(`Leaked allocations (allocated, no endpoint): ${s.leakedAllocations}`);
  for (const l of r.leakedAllocations) lines.push(`  ${l.ip}  handle "${l.handleId ?? ''}"  ${attrs(l.attrs)}: ${l.reason}`);
  lines.push(`Endpoint addresses IPAM did not allocate: ${s.endpointsWithoutAllocation}`);
  for (const e of r.endpointsWithoutAllocation) lines.push(`  ${e.ip}  endpoint ${e.endpoint} on node "${e.node}": ${e.reason}`);
  lines.push(`Addresses held by more than one endpoint: ${s.sharedAddresses}`);
  for (const x of r.sharedAddresses) lines.push(`  ${x.ip}  ${x.endpoints.join(', ')}`);
  lines.push(`Blocks of deleted hosts: ${s.blocksOfDeletedHosts}`);
  for (const b of r.blocksOfDeletedHosts) lines.push(`  ${b.cidr}  host "${b.host}" (no Node resource), ${b.allocated} address(es) allocated`);
  lines.push(`Handles without addresses: ${s.handlesWithoutAllocations}`);
  for (const h of r.handlesWithoutAllocations) lines.push(`  "${h}"`);
  if (s.allocationsWithUnknownOwner > 0) {
    lines.push(`Allocations without owner attributes (not judged): ${s.allocationsWithUnknownOwner}`);
  }
  return `${lines.join('\n')}\n`;
}

async function ipamFor(ctx: CommandContext, cmd: Command): Promise<Ipam> {
  return new Ipam((await ctx.store(cmd)).datastore);
}

export function registerIpamCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  const ipam = program.command('ipam').description('IP address management: usage, leaks, release, configuration');

  ipam
    .command('show')
    .description('addresses per pool (total, in use, reserved, free); --show-blocks per block; --ip one address')
    .option('--show-blocks', 'also list every block with its host and usage')
    .option('--show-configuration', 'also print the IPAM configuration')
    .option('--ip <ip>', 'show what IPAM knows about one address')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (opts, cmd: Command) => {
      if (opts.output !== 'table' && opts.output !== 'json') {
        throw new CliError(`unknown output format "${opts.output}" (expected table or json)`, EXIT_USAGE);
      }
      const client = await ipamFor(ctx, cmd);
      if (opts.ip) {
        const info = await client.ipInfo(opts.ip);
        const sameIp = (net: string) => {
          const c = tryParseCidr(net, true);
          return c !== undefined && ipToString({ family: c.family, value: c.address }) === info.ip;
        };
        const weps = (await client.resources.list<WorkloadEndpoint>('WorkloadEndpoint')).items.filter((w) => (w.spec.ipNetworks ?? []).some(sameIp));
        const endpoints = weps.map((w) => `${w.metadata.namespace}/${w.metadata.name}`);
        if (opts.output === 'json') {
          io.stdout(`${JSON.stringify({ ...info, endpoints }, null, 2)}\n`);
          return;
        }
        const a = info.allocation;
        const lines = [`IP ${info.ip} is ${a ? 'in use' : info.reservedBy ? 'reserved' : 'not allocated'}`];
        lines.push(`  pool:       ${info.pool ?? '(none: outside every IP pool)'}`);
        if (info.block) lines.push(`  block:      ${info.block}${info.blockHost ? ` (affine to host "${info.blockHost}")` : ' (no host)'}`);
        if (info.reservedBy) lines.push(`  reserved:   by IPReservation "${info.reservedBy}"`);
        if (a) {
          lines.push(`  handle:     ${a.handleId ?? '(none)'}`);
          const attrs = Object.entries(a.attrs).map(([k, v]) => `${k}=${v}`).join(' ');
          if (attrs) lines.push(`  attributes: ${attrs}`);
          lines.push(`  sequence:   ${a.sequenceNumber}`);
        }
        lines.push(`  endpoints:  ${endpoints.length > 0 ? endpoints.join(', ') : '(none)'}`);
        io.stdout(`${lines.join('\n')}\n`);
        return;
      }
      const usage = await client.usage();
      if (opts.output === 'json') {
        io.stdout(usageJson(opts.showBlocks ? usage : { ...usage, blocks: [] }));
        return;
      }
      let text = formatUsage(usage, Boolean(opts.showBlocks));
      if (opts.showConfiguration) text += `\n${describeConfig(usage.config)}`;
      io.stdout(text);
    });

  ipam
    .command('check')
    .description('find leaked allocations, endpoint addresses IPAM did not allocate and blocks of deleted hosts')
    .option('-o, --output <file>', 'write the full report as JSON (input of `ipam release --from-report`); - for stdout')
    .action(async (opts, cmd: Command) => {
      const report = await checkIpam(await ipamFor(ctx, cmd));
      const json = `${JSON.stringify(report, null, 2)}\n`;
      if (opts.output === '-') {
        io.stdout(json);
        return;
      }
      io.stdout(formatCheckSummary(report));
      if (opts.output) {
        writeFileSync(opts.output, json);
        io.stdout(
          `Report written to ${opts.output}` +
            (report.leakedAllocations.length > 0 ? `; release the leaks with: brindlectl ipam release --from-report ${opts.output}\n` : '\n'),
        );
      }
    });

  ipam
    .command('release')
    .description('release addresses: --ip (repeatable) or every leak of an `ipam check` report that is still leaked')
    .option('--ip <ip>', 'address to release (repeatable)', collect, [])
    .option('--from-report <file>', 'report written by `ipam check -o FILE`')
    .action(async (opts, cmd: Command) => {
      const ips: string[] = opts.ip;
      if ((ips.length > 0) === Boolean(opts.fromReport)) {
        throw new CliError('give either --ip IP (repeatable) or --from-report FILE', EXIT_USAGE);
      }
      if (opts.fromReport) {
        let text: string;
        try {
          text = readFileSync(opts.fromReport, 'utf8');
        } catch (err) {
          throw new CliError(`cannot read report "${opts.fromReport}": ${(err as Error).message}`, EXIT_USAGE);
        }
        const report = parseCheckReport(text, opts.fromReport);
        const r = await releaseFromReport(await ipamFor(ctx, cmd), report);
        for (const ip of r.released) io.stdout(`released ${ip}\n`);
        for (const s of r.skipped) io.stdout(`skipped ${s.ip}: ${s.reason}\n`);
        io.stdout(`released ${r.released.length} of ${report.leakedAllocations.length} leaked allocation(s) in the report\n`);
        return;
      }
      for (const ip of ips) {
        if (!tryParseIp(ip)) throw new InvalidError('--ip', `"${ip}" is not an IP address`);
      }
      const r = await (await ipamFor(ctx, cmd)).releaseIPs(ips);
      for (const ip of r.released) io.stdout(`released ${ip}\n`);
      if (r.notReleased.length > 0) {
        throw new CliError(r.notReleased.map((n) => `cannot release ${n.ip}: ${n.reason}`).join('; '));
      }
    });

  ipam
    .command('configure')
    .description('show or change the IPAM configuration')
    .option('--strict-affinity <bool>', 'true: hosts never borrow addresses from other hosts’ blocks')
    .option('--max-blocks-per-host <n>', 'most blocks one host may claim per IP family (0 = no limit; needs strict affinity)')
    .option('--auto-allocate-blocks <bool>', 'false: hosts claim no new blocks (needs strict affinity)')
    .action(async (opts, cmd: Command) => {
      const client = await ipamFor(ctx, cmd);
      const change: Partial<IpamConfig> = {};
      if (opts.strictAffinity !== undefined) change.strictAffinity = parseBool('--strict-affinity', opts.strictAffinity);
      if (opts.autoAllocateBlocks !== undefined) change.autoAllocateBlocks = parseBool('--auto-allocate-blocks', opts.autoAllocateBlocks);
      if (opts.maxBlocksPerHost !== undefined) {
        const n = Number(opts.maxBlocksPerHost);
        if (!/^\d+$/.test(opts.maxBlocksPerHost) || !Number.isSafeInteger(n)) {
          throw new CliError(`--max-blocks-per-host: expected a whole number ≥ 0, got "${opts.maxBlocksPerHost}"`, EXIT_USAGE);
        }
        change.maxBlocksPerHost = n;
      }
      const config = Object.keys(change).length === 0 ? await client.getConfig() : await client.setConfig(change);
      io.stdout(describeConfig(config));
    });
}
