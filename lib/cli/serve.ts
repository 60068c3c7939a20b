import { isIP } from 'node:net';
import { Option, UsageError } from 'clipanion';
import { formatAddress } from '../net/address.js';
import type { DatagramIoStats } from '../net/io/io-stats.js';
import { toBase64Url } from '../encoding.js';
import { SocketError } from '../errors.js';
import { rateLimitsFor } from '../net/handshake/rate-limit.js';
import { RefusalLog } from '../net/refusal-log.js';
import { createServer } from '../transfer/file-server.js';
import { ReceiveBudget } from '../transfer/budget.js';
import { BandwidthPolicy, parseBandwidthLimits } from '../transfer/bandwidth.js';
import { DiskQuota } from '../transfer/quota.js';
import { readAuthorizedKeys } from '../trust/authorized-keys.js';
import { defaultServerKeyPath, fingerprint, loadOrCreateIdentity } from '../trust/identity.js';
import { counterFields, datagramPathLabel, EndpointCommand } from './endpoint-command.js';
import { systemErrorSentence, withSentences } from './errors.js';
import { isDirectory } from './fs.js';
import { waitForStopSignal } from './signals.js';
import { logTransferEvent } from './transfers.js';

/** How often the same refusal of the same client host is logged again. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

export class ServeCommand extends EndpointCommand {
  static override paths = [['serve']];
  static override usage = EndpointCommand.Usage({
    description: 'accept secure sessions on a UDP port',
    details: `
      Listens on one UDP port for any number of peers. Each client that completes the X25519
      handshake gets its own session: version 2 (per-direction keys, replay protection,
      heartbeats, key rotation) when it offers it, the original protocol otherwise. Datagrams that
      fail any check are dropped without an answer and counted (\`--verbose\` logs each drop).

      Send SIGUSR1 to log a status line with the session count and every counter, or use
      \`--stats-interval\`. Runs until SIGINT or SIGTERM, then closes every session and exits 0.

      The server proves a long-term identity (\`--identity\`, default ~/.bittrrt/server.key,
      created on first run) that clients pin. \`--key-file\` sets a network key shared with the
      clients: without it nobody completes a handshake. \`--authorized-keys\` admits only listed
      clients (\`bittrrt keygen --client\` makes their keys).

      \`--dir DIR\` accepts uploads into DIR (\`bittrrt connect --send\`): each arrives as NAME.part
      and takes its name only once its SHA-256 matches the sender's. Names with separators, \`..\`,
      control characters or lone surrogates are refused (names are stored in NFC, and compared
      case-folded where the file system folds case), and existing files are kept unless the client
      asks \`--overwrite\` (\`--refuse-overwrite\`: never). A part file belongs to the client host
      that made it: only that host may resume, empty or replace it. \`--allow-download\` also
      serves the files in DIR (\`--get\`). Without \`--dir\` the server refuses files, saying why. \`--receive-budget MIB\` (default 64) bounds
      the received data held in memory over all transfers: each upload reserves its window (up to
      8 MiB), one host at most a quarter of the budget, and one that does not fit is refused.
      \`--bandwidth-tests\` says which bandwidth tests clients may ask for (\`--bwup\`/\`--bwdown\`):
      \`off\`, or IN_ALL,PER_HOST,SECONDS (default 4,1,60: four at once, one per client host, a
      minute each); they need no \`--dir\`. A refused test is told why.
      \`--max-size MIB\` refuses larger uploads (default: no limit); \`--client-quota MIB\` (default
      16384, 0: none) bounds what one client (its identity, or its host when anonymous) uploads into
      DIR while the server runs; an upload that the free space on DIR's disk cannot hold is refused.

      Each refused client (its key not in \`--authorized-keys\`, a handshake that does not decrypt
      under the network key, a version-1 client when only authenticated ones are accepted) and each
      refused upload or download (the name exists, a quota, the budget) is logged as a warning, at
      most once a minute per cause and client address. Serving \`--dir\` with neither
      \`--key-file\` nor \`--authorized-keys\` says loudly at start that anyone may upload.

      Settings come from flags, else the config file (\`bittrrt config init\` writes one), else defaults.
    `,
    examples: [
      ['Listen on all IPv4 addresses, port 6711', '$0 serve'],
      ['Listen on IPv6 loopback, any free port, JSON logs', '$0 serve --bind ::1 --port 0 --json'],
      ['Log counters every 10 seconds', '$0 serve --stats-interval 10'],
      ['Accept uploads into ./inbox and serve downloads from it', '$0 serve --dir ./inbox --allow-download'],
    ],
  });

  bind = Option.String('--bind', { description: 'IP address to listen on, :: for all IPv6 (default 0.0.0.0)' });
  port = Option.String('--port', { description: 'UDP port, 0 for any free one (default 6711)' });
  maxSessions = Option.String('--max-sessions', { description: 'most sessions at once; half-open or silent ones make room, working ones never (default 10000)' });
  maxSessionsPerHost = Option.String('--max-sessions-per-host', { description: 'most sessions one host (IPv4 address, IPv6 /64) may hold; clients behind one NAT share it (default 1000)' });
  statsInterval = Option.String('--stats-interval', { description: 'log a status line every this many seconds' });
  authorizedKeys = Option.String('--authorized-keys', { description: 'only clients whose public key is listed here may connect' });
  handshakeRate = Option.String('--handshake-rate', { description: 'X25519 handshakes per second in all (default 2000)' });
  dir = Option.String('--dir', { description: 'accept uploads into this directory' });
  allowDownload = Option.Boolean('--allow-download', false, { description: 'also serve the files in --dir' });
  maxDatagram = Option.String('--max-datagram', { description: 'largest UDP payload of a transfer datagram, in bytes (default 1444)' });
  refuseOverwrite = Option.Boolean('--refuse-overwrite', false, {
    description: 'never replace an existing file in --dir, even when the client asks --overwrite (config: overwrite=refuse)',
  });
  bandwidthTests = Option.String('--bandwidth-tests', {
    description: 'bandwidth tests clients may ask for: off, or IN_ALL,PER_HOST,SECONDS: tests at once in all, at once per client host, and the longest in seconds; others are refused, saying why (default 4,1,60)',
  });
  receiveBudget = Option.String('--receive-budget', {
    description: 'MiB of received file data the server holds in memory over all transfers; an upload that does not get its first window (8 MiB; one host: a quarter of this, at least 8) is refused, saying why; windows grow on long fast paths only as far as this allows (default 64)',
  });
  maxSize = Option.String('--max-size', { description: 'largest upload taken, in MiB; larger ones are refused, saying why (default 0: no limit)' });
  clientQuota = Option.String('--client-quota', {
    description: 'MiB one client (its identity, or its host when anonymous) may upload into --dir while the server runs, finished or partial; over it, refused, saying why (default 16384, 0: no limit)',
  });
  sourceHandshakeRate = Option.String('--source-handshake-rate', { description: 'handshakes per second per host, all its ports together (IPv4 address, IPv6 /64; default 10)' });
  handshakeThreads = Option.String('--handshake-threads', { description: 'threads that compute handshakes off the socket thread: auto (one per core beyond the first, at most 4) or a count, 0 for none' });

  override async execute(): Promise<number> {
    const settings = this.settings({
      bind_addr: { name: '--bind', value: this.bind },
      bind_port: { name: '--port', value: this.port },
      max_sessions: { name: '--max-sessions', value: this.maxSessions },
      max_sessions_per_host: { name: '--max-sessions-per-host', value: this.maxSessionsPerHost },
      authorized_keys: { name: '--authorized-keys', value: this.authorizedKeys },
      handshake_rate: { name: '--handshake-rate', value: this.handshakeRate },
      source_handshake_rate: { name: '--source-handshake-rate', value: this.sourceHandshakeRate },
      handshake_threads: { name: '--handshake-threads', value: this.handshakeThreads },
      files_dir: { name: '--dir', value: this.dir },
      max_datagram: { name: '--max-datagram', value: this.maxDatagram },
      receive_budget: { name: '--receive-budget', value: this.receiveBudget },
      bandwidth_tests: { name: '--bandwidth-tests', value: this.bandwidthTests },
      overwrite: { name: '--refuse-overwrite', value: this.refuseOverwrite ? 'refuse' : undefined },
      max_size: { name: '--max-size', value: this.maxSize },
      client_quota: { name: '--client-quota', value: this.clientQuota },
    });
    const dir = settings.files_dir === '' ? undefined : settings.files_dir;
    if (dir !== undefined && !isDirectory(dir)) throw new UsageError(`--dir ${JSON.stringify(dir)} is not a directory`);
    if (this.allowDownload && dir === undefined) throw new UsageError('--allow-download needs --dir');
    const statsSeconds = this.statsInterval === undefined ? undefined : Number(this.statsInterval);
    if (statsSeconds !== undefined && !(Number.isInteger(statsSeconds) && statsSeconds > 0)) {
      throw new UsageError(`bad value for --stats-interval: ${JSON.stringify(this.statsInterval)} (expected whole seconds)`);
    }
    if (isIP(settings.bind_addr) === 0) throw new UsageError(`invalid bind address ${JSON.stringify(settings.bind_addr)}`);
    const log = this.logger(settings);
    const networkKey = this.networkKey(settings);
    const identityPath = settings.identity_file || defaultServerKeyPath();
    const { identity, created } = loadOrCreateIdentity(identityPath, 'server identity');
    const authorizedKeys = settings.authorized_keys === '' ? undefined : readAuthorizedKeys(settings.authorized_keys);
    const server = createServer({
      logger: log,
      identity,
      networkKey,
      authorizedKeys,
      maxSessions: settings.max_sessions,
      maxSessionsPerHost: settings.max_sessions_per_host,
      handshakeThreads: settings.handshake_threads === 'auto' ? undefined : settings.handshake_threads,
      rateLimits: rateLimitsFor(settings.handshake_rate, settings.source_handshake_rate),
      timings: this.timings(settings),
      files: {
        dir, allowDownload: this.allowDownload, maxDatagram: settings.max_datagram, allowOverwrite: settings.overwrite === 'allow',
        receiveBudget: new ReceiveBudget(settings.receive_budget * 1024 * 1024),
        bandwidthPolicy: new BandwidthPolicy(parseBandwidthLimits(settings.bandwidth_tests)),
        maxSize: settings.max_size === 0 ? undefined : settings.max_size * 1024 * 1024,
        diskQuota: new DiskQuota(settings.client_quota * 1024 * 1024),
      },
    });
    server.on('error', (err) => log.error(err.message));
    // A client that retries a refused upload (or sends many) makes one line a minute per reason.
    const refusals = new RefusalLog(REFUSAL_LOG_INTERVAL_MS);
    server.on('transfer', (event, session) => {
      const peer = formatAddress(session.remote.address, session.remote.port);
      if (event.kind !== 'refused') return logTransferEvent(log, event, peer);
      const cause = event.name === '' ? event.reason : event.reason.split(event.name).join('NAME');
      if (!refusals.due(cause, session.remote.address)) return;
      const what = event.name === '' ? 'a bandwidth test' : `${event.direction === 'receive' ? 'an upload of' : 'a download of'} ${event.name}`;
      log.warn(`refused ${what}: ${event.reason}`, { peer });
    });
    const status = (): void => log.info('status', counterFields(server.counters, { sessions: server.sessionCount, ...ioFields(server.ioStats()) }));

    // Listen for the stop signals before announcing the port, so a signal sent right after the
    // announcement is never missed.
    const stopped = waitForStopSignal();
    let bound;
    try {
      bound = await server.listen(settings.bind_port, settings.bind_addr);
    } catch (err) {
      const code = err instanceof SocketError ? err.osCode : undefined;
      const why = code === 'EADDRINUSE' ? 'address already in use' : systemErrorSentence(code) ?? withSentences((err as Error).message);
      throw new UsageError(`cannot listen on ${formatAddress(settings.bind_addr, settings.bind_port)}: ${why}`);
    }
    process.on('SIGUSR1', status);
    const statsTimer = statsSeconds === undefined ? undefined : setInterval(status, statsSeconds * 1000);
    log.info(`server identity ${toBase64Url(identity.publicKey)}`, {
      fingerprint: fingerprint(identity.publicKey), file: identityPath, created: created || undefined,
    });
    const listening = formatAddress(bound.address, bound.port);
    log.info(`bittrrt listening on ${listening}`, {
      admits: admitted(networkKey !== undefined, authorizedKeys?.size),
      files: dir === undefined ? 'refused' : `${dir}${this.allowDownload ? ' (uploads and downloads)' : ' (uploads)'}`,
      datagrams: datagramPathLabel(server.ioStats()),
    });
    if (dir !== undefined && !networkKey && !authorizedKeys) {
      log.warn(`anyone who can reach ${listening} may upload into ${dir}${this.allowDownload ? ' and download its files' : ''}: `
        + 'no network key (--key-file) and no client list (--authorized-keys) restrict it');
    }
    const signal = await stopped;
    clearInterval(statsTimer);
    process.off('SIGUSR1', status);
    const sessions = server.sessionCount;
    await server.close();
    log.info(`stopped (${signal})`, counterFields(server.counters, { closed_sessions: sessions }));
    return 0;
  }
}

/** Who can complete a handshake, for the start line. */
function admitted(networkKey: boolean, listed: number | undefined): string {
  const clients = listed === undefined ? undefined : `${listed} listed client${listed === 1 ? '' : 's'}`;
  if (clients === undefined) return networkKey ? 'holders of the network key' : 'anyone';
  return networkKey ? `${clients} holding the network key` : clients;
}

/** The datagram path's counters for the status line: datagrams per system call say whether batching works. */
function ioFields(stats: DatagramIoStats | undefined): Record<string, string | number> {
  if (stats === undefined) return {};
  return {
    io_path: stats.path, send_calls: stats.sendCalls, datagrams_sent: stats.datagramsSent, send_drops: stats.sendDrops,
    receive_batches: stats.receiveBatches, datagrams_received: stats.datagramsReceived,
  };
}
