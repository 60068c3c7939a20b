import { lookup as dnsLookup, type LookupOneOptions as LookupOptions } from 'node:dns';
import { lookup } from 'node:dns/promises';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;
import { isIP } from 'node:net';
import { DEFAULT_CONNECT_HOST, DEFAULT_PORT } from '../constants.js';
import { InvalidInputError } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Parses a port number 0-65535 given as text; throws InvalidInputError otherwise. */
export function parsePort(text: string, allowZero = true): number {
  if (!/^\d{1,5}$/.test(text)) throw new InvalidInputError(`invalid port ${JSON.stringify(text)}: expected a number 0-65535`);
  const port = Number(text);
  if (port > 65535 || (!allowZero && port === 0)) {
    throw new InvalidInputError(`invalid port ${text}: expected ${allowZero ? '0' : '1'}-65535`);
  }
  return port;
}

/**
 * Whether `text` is an IPv6 address. Node's IPv6 pattern took 7 ms to compile on its first use
 * here, a few percent of a command's start; every IPv6 address has at least two colons, and an
 * IPv4 address or a `HOST:PORT` fewer, so those never reach it.
 */
function isIPv6(text: string): boolean {
  return text.indexOf(':') !== text.lastIndexOf(':') && isIP(text) === 6;
}

/**
 * Parses `HOST`, `HOST:PORT`, `[IPv6]`, `[IPv6]:PORT` or a bare IPv6 address; missing parts take
 * the defaults (127.0.0.1, 6711).
 */
export function parseHostPort(text: string | undefined, defaults: HostPort = { host: DEFAULT_CONNECT_HOST, port: DEFAULT_PORT }): HostPort {
  if (text === undefined || text === '') return { ...defaults };
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    const host = bracketed[1] as string;
    if (!isIPv6(host)) throw new InvalidInputError(`invalid IPv6 address ${JSON.stringify(host)}`);
    return { host, port: bracketed[2] === undefined ? defaults.port : parsePort(bracketed[2], false) };
  }
  if (isIPv6(text)) return { host: text, port: defaults.port };
  const colon = text.lastIndexOf(':');
  const host = colon === -1 ? text : text.slice(0, colon);
  const port = colon === -1 ? defaults.port : parsePort(text.slice(colon + 1), false);
  if (!/^[A-Za-z0-9.-]+$/.test(host) || host.includes('..')) {
    throw new InvalidInputError(`invalid host ${JSON.stringify(host)} (use [addr]:port for IPv6)`);
  }
  return { host, port };
}

/** Resolves a host name to one address (an IP address resolves to itself). */
export async function resolveHost(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const ipFamily = isIP(host);
  if (ipFamily === 4 || ipFamily === 6) return { address: host, family: ipFamily };
  try {
    const { address, family } = await lookup(host);
    return { address, family: family === 6 ? 6 : 4 };
  } catch {
    throw new InvalidInputError(`cannot resolve host ${JSON.stringify(host)}`);
  }
}

/**
 * The host an address belongs to, for per-host limits: an IPv4 address itself (/32), an IPv6
 * address's /64 (as WireGuard's ratelimiter: one subscriber usually holds a whole /64, so finer
 * keys would let one host pose as many). An IPv4-mapped IPv6 address counts as its IPv4 address.
 */
export function hostKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('%')[0]!.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/** `addr:port`, with IPv6 addresses bracketed. */
export function formatAddress(address: string, port: number): string {
  return isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Every datagram we send goes to an IP address (a peer's source address, or one resolved once
 * before connecting). dgram's default lookup still goes through dns.lookup and a process.nextTick
 * per send, about a microsecond on the transfer hot path; this one answers IP literals at once
 * and leaves any name to dns.lookup.
 */
export function literalLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  const family = isIP(hostname);
  if (family === 0) return dnsLookup(hostname, options, callback);
  callback(null, hostname, family);
}
