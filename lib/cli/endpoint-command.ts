import { Command, Option, UsageError } from 'clipanion';
import { loadConfig, resolveSettings, type Settings } from '../config.js';
import { createLogger, type LogFields, type Logger } from '../log.js';
import type { Counters } from '../net/counters.js';
import type { DatagramIoStats } from '../net/io/io-stats.js';
import type { SessionTimings } from '../net/timings.js';
import { readSecretKeyFile } from '../trust/key-file.js';

type FlagValues = Partial<Record<keyof Settings, { name: string; value: string | undefined }>>;

/** Options and plumbing shared by `serve` and `connect`: config file, logging, session timers. */
export abstract class EndpointCommand extends Command {
  configPath = Option.String('--config', { description: 'config file (default: $BITTRRT_CONFIG, else ~/.bittrrt/config)' });
  json = Option.Boolean('--json', false, { description: 'log one JSON object per line' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'log only warnings and errors' });
  verbose = Option.Boolean('-v,--verbose', false, { description: 'also log every dropped datagram' });
  heartbeatRate = Option.String('--heartbeat-rate', { description: 'milliseconds between heartbeats (default 5000)' });
  staleHeartbeats = Option.String('--stale-heartbeats', { description: 'silent heartbeat intervals before a session is dead (default 10)' });
  rekeyAfter = Option.String('--rekey-after', { description: 'seconds between key rotations (default 120)' });
  keyFile = Option.String('--key-file', { description: 'network key file shared by server and clients (bittrrt keygen); also $BITTRRT_KEY_FILE' });
  identityFile = Option.String('--identity', { description: 'long-term identity key file (serve: default ~/.bittrrt/server.key; connect: ~/.bittrrt/client.key if it exists)' });

  /** Config file, then these flags and `extra`, validated alike. */
  protected settings(extra: FlagValues = {}): Settings {
    if (this.quiet && this.verbose) throw new UsageError('--quiet and --verbose cannot be used together');
    const file = loadConfig(this.configPath ?? (process.env.BITTRRT_CONFIG || undefined));
    return resolveSettings(file, {
      heartbeat_rate: { name: '--heartbeat-rate', value: this.heartbeatRate },
      stale_heartbeats: { name: '--stale-heartbeats', value: this.staleHeartbeats },
      rekey_after: { name: '--rekey-after', value: this.rekeyAfter },
      log_format: { name: '--json', value: this.json ? 'json' : undefined },
      key_file: { name: '--key-file', value: this.keyFile ?? (process.env.BITTRRT_KEY_FILE || undefined) },
      identity_file: { name: '--identity', value: this.identityFile },
      ...extra,
    });
  }

  /** `infoOut`: where info lines go (stderr when stdout carries data, as `connect --out -`). */
  protected logger(settings: Settings, infoOut: NodeJS.WritableStream = this.context.stdout): Logger {
    return createLogger({
      level: this.quiet ? 'warn' : this.verbose ? 'debug' : 'info',
      json: settings.log_format === 'json',
      out: infoOut,
      errorOut: this.context.stderr,
    });
  }

  /** The network key, if one is configured. */
  protected networkKey(settings: Settings): Uint8Array | undefined {
    return settings.key_file === '' ? undefined : readSecretKeyFile(settings.key_file, 'network key');
  }

  protected timings(settings: Settings): Partial<SessionTimings> {
    return {
      heartbeatRate: settings.heartbeat_rate,
      staleHeartbeats: settings.stale_heartbeats,
      rekeyAfterMs: settings.rekey_after * 1000,
    };
  }
}

/** Counters as flat log fields: drops appear as drop_<reason>. */
export function counterFields(counters: Counters, extra: LogFields = {}): LogFields {
  const { drops, ...totals } = counters.toJSON();
  const fields: Record<string, number | string | boolean | undefined> = { ...extra, ...totals };
  for (const [reason, n] of Object.entries(drops)) fields[`drop_${reason.replace(/-/g, '_')}`] = n;
  return fields;
}

/** The datagram path for the start line (serve) and -v (connect): which one, and which kernel batching it uses. */
export function datagramPathLabel(stats: DatagramIoStats | undefined): string | undefined {
  if (stats === undefined) return undefined;
  if (stats.path === 'dgram') return 'node:dgram';
  return `native (sendmmsg${stats.gso ? ' with GSO' : ''}, recvmmsg${stats.gro ? ' with GRO' : ''})`;
}
