import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { isIP } from 'node:net';
import {
  DEFAULT_BANDWIDTH_LIMITS, DEFAULT_BIND_ADDR, DEFAULT_CLIENT_QUOTA_BYTES, DEFAULT_MAX_DATAGRAM, DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS_PER_HOST, DEFAULT_PORT,
  DEFAULT_RECEIVE_BUDGET_BYTES, HEARTBEAT_RATE, MAX_DATAGRAM, MAX_BANDWIDTH_SECONDS, MAX_REKEY_AFTER_MS, MIN_TRANSFER_DATAGRAM, RECEIVE_WINDOW_BYTES, REJECT_AFTER_MS, REKEY_AFTER_MS,
  STALE_HEARTBEATS,
} from './constants.js';
import { BittrrtError } from './errors.js';
import { DEFAULT_RATE_LIMITS } from './net/handshake/rate-limit.js';
import { formatBandwidthLimits, parseBandwidthLimits } from './transfer/bandwidth.js';

/** A config file could not be read or has a bad line; the message names the file, line and key. */
export class ConfigError extends BittrrtError {
  constructor(message: string) {
    super('ERR_CONFIG', message);
  }
}

/** Settings a config file may hold; every one has a command-line flag that overrides it. */
export interface Settings {
  bind_addr: string;
  bind_port: number;
  heartbeat_rate: number;
  stale_heartbeats: number;
  rekey_after: number;
  max_sessions: number;
  max_sessions_per_host: number;
  handshake_rate: number;
  source_handshake_rate: number;
  handshake_threads: 'auto' | number;
  log_format: 'text' | 'json';
  key_file: string;
  identity_file: string;
  authorized_keys: string;
  known_hosts: string;
  files_dir: string;
  max_datagram: number;
  allow_unauthenticated: boolean;
  receive_budget: number;
  bandwidth_tests: string;
  overwrite: 'allow' | 'refuse';
  max_size: number;
  client_quota: number;
}

interface KeySpec {
  help: string;
  parse(value: string): string | number | boolean | undefined;
}

const integer = (min: number, max: number) => (value: string): number | undefined => {
  if (!/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n >= min && n <= max ? n : undefined;
};

const MiB = 1024 * 1024;

const filePath = (value: string): string | undefined => (value.includes('\0') ? undefined : value);

const yesNo = (value: string): boolean | undefined => (value === 'true' ? true : value === 'false' ? false : undefined);

const KEYS: Record<keyof Settings, KeySpec & { fallback: string | number | boolean; expect: string }> = {
  bind_addr: { help: 'IP address the server listens on', fallback: DEFAULT_BIND_ADDR, expect: 'an IP address', parse: (v) => (isIP(v) ? v : undefined) },
  bind_port: { help: 'UDP port the server listens on (0: any free port)', fallback: DEFAULT_PORT, expect: 'a port 0-65535', parse: integer(0, 65535) },
  heartbeat_rate: { help: 'milliseconds between heartbeats', fallback: HEARTBEAT_RATE, expect: 'milliseconds 10-3600000', parse: integer(10, 3_600_000) },
  stale_heartbeats: { help: 'heartbeat intervals of silence after which a session is dead', fallback: STALE_HEARTBEATS, expect: 'a count 2-1000', parse: integer(2, 1000) },
  rekey_after: {
    help: `seconds between key rotations; keys are refused after ${REJECT_AFTER_MS / 1000} s whatever the peer's setting`,
    fallback: REKEY_AFTER_MS / 1000, expect: `seconds 1-${MAX_REKEY_AFTER_MS / 1000}`, parse: integer(1, MAX_REKEY_AFTER_MS / 1000),
  },
  max_sessions: { help: 'most sessions a server holds; when full, half-open or silent ones make room, working ones never', fallback: DEFAULT_MAX_SESSIONS, expect: 'a count 1-1000000', parse: integer(1, 1_000_000) },
  max_sessions_per_host: { help: 'server: most sessions one host (IPv4 address, IPv6 /64) may hold, so one host cannot fill the table; keep it high enough for clients behind one NAT', fallback: DEFAULT_MAX_SESSIONS_PER_HOST, expect: 'a count 1-1000000', parse: integer(1, 1_000_000) },
  handshake_rate: { help: 'server: X25519 handshakes per second in all (bursts of twice that); above half of it, clients must first echo a cookie', fallback: DEFAULT_RATE_LIMITS.globalRate, expect: 'a rate 1-1000000', parse: integer(1, 1_000_000) },
  source_handshake_rate: { help: 'server: handshakes per second from one host, all its ports together (IPv4 address, IPv6 /64; bursts of twice that)', fallback: DEFAULT_RATE_LIMITS.perSourceRate, expect: 'a rate 1-1000000', parse: integer(1, 1_000_000) },
  handshake_threads: {
    help: 'server: threads that compute handshakes off the socket thread; auto: one per core beyond the first, at most 4; 0: none',
    fallback: 'auto', expect: '"auto" or a count 0-64', parse: (v) => (v === 'auto' ? v : integer(0, 64)(v)),
  },
  log_format: { help: 'text or json', fallback: 'text', expect: '"text" or "json"', parse: (v) => (v === 'text' || v === 'json' ? v : undefined) },
  key_file: { help: 'network key file (bittrrt keygen); empty: the public obfuscation key, no network key', fallback: '', expect: 'a file path', parse: filePath },
  identity_file: { help: 'long-term identity key: the server\'s (default ~/.bittrrt/server.key, made on first run) or a client\'s', fallback: '', expect: 'a file path', parse: filePath },
  authorized_keys: { help: 'server: only clients whose public key is listed in this file may connect', fallback: '', expect: 'a file path', parse: filePath },
  known_hosts: { help: 'client: server keys recorded on first contact (default ~/.bittrrt/known_hosts)', fallback: '', expect: 'a file path', parse: filePath },
  files_dir: { help: 'server: directory that takes uploads (--dir); empty: files are refused', fallback: '', expect: 'a directory path', parse: filePath },
  max_datagram: { help: 'largest UDP payload of a file-transfer datagram, in bytes', fallback: DEFAULT_MAX_DATAGRAM, expect: `bytes ${MIN_TRANSFER_DATAGRAM}-${MAX_DATAGRAM}`, parse: integer(MIN_TRANSFER_DATAGRAM, MAX_DATAGRAM) },
  allow_unauthenticated: {
    help: 'client: accept a server that answers only with the original, unauthenticated protocol (version 1), which an attacker on the path can fake; never for a known, pinned or keyed server',
    fallback: false, expect: '"true" or "false"', parse: yesNo,
  },
  receive_budget: {
    help: 'server: MiB of received file data held in memory over all transfers (out of order or waiting for the disk); each upload reserves its window (8 MiB, growing up to 64 MiB on a long fast path as the budget allows) or is refused; one host may hold a quarter, at least 8 MiB',
    fallback: DEFAULT_RECEIVE_BUDGET_BYTES / MiB, expect: `MiB ${RECEIVE_WINDOW_BYTES / MiB}-65536`, parse: integer(RECEIVE_WINDOW_BYTES / MiB, 65_536),
  },
  overwrite: {
    help: 'server: whether a client may replace an existing file in files_dir (connect --overwrite); refuse: never',
    fallback: 'allow', expect: '"allow" or "refuse"', parse: (v) => (v === 'allow' || v === 'refuse' ? v : undefined),
  },
  max_size: {
    help: 'largest file this side receives, in MiB: a server refuses larger uploads, a client larger downloads, each saying why; 0: no limit',
    fallback: 0, expect: 'MiB 0-8589934591', parse: integer(0, Math.floor(Number.MAX_SAFE_INTEGER / MiB)),
  },
  client_quota: {
    help: 'server: MiB one client (its identity, or its host when anonymous) may upload into files_dir while the server runs, finished or partial; 0: no limit',
    fallback: DEFAULT_CLIENT_QUOTA_BYTES / MiB, expect: 'MiB 0-8589934591', parse: integer(0, Math.floor(Number.MAX_SAFE_INTEGER / MiB)),
  },
  bandwidth_tests: {
    help: 'server: bandwidth tests clients may ask for: off, or IN_ALL,PER_HOST,SECONDS (tests at once in all, at once per client host, longest test)',
    fallback: formatBandwidthLimits(DEFAULT_BANDWIDTH_LIMITS), expect: `"off" or three counts IN_ALL,PER_HOST,SECONDS (PER_HOST <= IN_ALL, SECONDS 1-${MAX_BANDWIDTH_SECONDS})`,
    parse: (v) => {
      const limits = parseBandwidthLimits(v);
      return limits === undefined ? undefined : formatBandwidthLimits(limits);
    },
  },
};

/** Keys of the original's config that this version reads but does not use. */
const ORIGINAL_ONLY_KEYS = new Set(['port_ranges', 'port_parallelability']);

/** The default config path, ~/.bittrrt/config (as the original). */
export function defaultConfigPath(): string {
  return join(homedir(), '.bittrrt', 'config');
}

/** Parses `key=value` lines; `#` starts a comment. Throws ConfigError naming the line. */
export function parseConfig(text: string, path: string): Partial<Settings> {
  const settings: Record<string, string | number | boolean> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const where = `${path}:${i + 1}`;
    const eq = line.indexOf('=');
    if (eq === -1) throw new ConfigError(`${where}: expected key=value, got ${JSON.stringify(line)}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (ORIGINAL_ONLY_KEYS.has(key)) return;
    const spec = Object.hasOwn(KEYS, key) ? KEYS[key as keyof Settings] : undefined;
    if (!spec) throw new ConfigError(`${where}: unknown key ${JSON.stringify(key)} (known: ${Object.keys(KEYS).join(', ')})`);
    const parsed = spec.parse(value);
    if (parsed === undefined) throw new ConfigError(`${where}: bad value for ${key}: ${JSON.stringify(value)} (expected ${spec.expect})`);
    settings[key] = parsed;
  });
  return settings as Partial<Settings>;
}

/**
 * Reads the config file: `explicitPath` (from --config or BITTRRT_CONFIG) must exist; the
 * default path is optional.
 */
export function loadConfig(explicitPath: string | undefined): Partial<Settings> {
  const path = explicitPath ?? defaultConfigPath();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (explicitPath === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError(`cannot read config ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseConfig(text, path);
}

/**
 * The effective settings: a flag's text (validated like a config value) wins over the file,
 * the file over the default.
 */
export function resolveSettings(file: Partial<Settings>, flags: Partial<Record<keyof Settings, { name: string; value: string | undefined }>>): Settings {
  const settings: Record<string, string | number | boolean> = {};
  for (const [key, spec] of Object.entries(KEYS)) {
    const flag = flags[key as keyof Settings];
    if (flag?.value !== undefined) {
      const parsed = spec.parse(flag.value);
      if (parsed === undefined) throw new ConfigError(`bad value for ${flag.name}: ${JSON.stringify(flag.value)} (expected ${spec.expect})`);
      settings[key] = parsed;
    } else {
      settings[key] = file[key as keyof Settings] ?? spec.fallback;
    }
  }
  return settings as unknown as Settings;
}

/** A commented config file with every key at its default. */
export function renderDefaultConfig(): string {
  const lines = ['# bittrrt configuration: key=value, one per line; # starts a comment.',
    '# Command-line flags override these values.', ''];
  for (const [key, spec] of Object.entries(KEYS)) lines.push(`# ${spec.help} (${spec.expect})`, `${key}=${spec.fallback}`, '');
  return lines.join('\n');
}

/** Writes the default config to `path`; refuses to overwrite an existing file unless `force`. */
export function writeDefaultConfig(path: string, force: boolean): void {
  if (existsSync(path) && !force) throw new ConfigError(`${path} already exists (use --force to overwrite)`);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, renderDefaultConfig(), { mode: 0o600 });
}
