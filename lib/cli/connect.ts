import { constants as osConstants } from 'node:os';
import { Option, UsageError } from 'clipanion';
import { MAX_BANDWIDTH_SECONDS, X25519_KEY_BYTES } from '../constants.js';
import { fromBase64Url } from '../encoding.js';
import { formatAddress, parseHostPort } from '../net/address.js';
import { connect, type ConnectOptions } from '../net/client.js';
import { PersistentClient } from '../net/persistent.js';
import { pingSeries } from '../net/ping.js';
import type { Session } from '../net/session.js';
import { fingerprint } from '../trust/identity.js';
import { defaultKnownHostsPath, KnownHosts, trustOnFirstUse } from '../trust/known-hosts.js';
import { clientIdentity } from './client-identity.js';
import { connectFailure, reportConnectFailure } from './connect-failure.js';
import { datagramPathLabel, EndpointCommand } from './endpoint-command.js';
import { userInput } from './errors.js';
import { isDirectory } from './fs.js';
import { printListing } from './listing.js';
import { namesDirectory } from './out-path.js';
import { PEER_SILENCE_HEARTBEATS } from './peer-watch.js';
import { checkLocalPaths } from './preflight.js';
import { clearingLogger, StatusLine } from './progress.js';
import { STDIO } from './transfer-jobs.js';
import { waitForStopSignal } from './signals.js';
import { runTransfers, type TransferPlan } from './transfers.js';
import type { Logger } from '../log.js';

export class ConnectCommand extends EndpointCommand {
  static override paths = [['connect']];
  static override usage = EndpointCommand.Usage({
    description: 'open a secure session to a bittrrt server',
    details: `
      Sends the X25519 handshake to HOST:PORT (default 127.0.0.1:6711) up to 50 times, 100 ms
      apart, and reports the established session. Exits 1 if it fails: at once when the host
      answers that nothing listens on the port ("refused"), else after the 50 attempts, listing
      the likely causes (a wrong address or port, a firewall, a server that requires a network
      key, or one that admits only listed clients). Files to send, the \`--out\` directory and
      every flag are checked before the first datagram leaves.

      \`--send FILE\` uploads a file into the server's \`--dir\` (repeat it to send several over
      the one session; \`--as NAME\` renames a single file); \`--get NAME\` downloads one
      (\`--out PATH\`, a file or a directory; \`--out DIR/\` creates a missing directory).
      Transfers are reliable and congestion-controlled, show a progress bar on a terminal
      (\`stalled\` once nothing has moved for 3 s), and end with a SHA-256 check: the file appears
      under its name only when it matches, else NAME.part stays. Each file ends with a line of its
      size, time and rate, several files with a total; \`--json\` gives them as numbers. A server
      that sends nothing for three heartbeat intervals (15 s) while a transfer runs is taken for
      gone: the failure names the file, how far it got, and the command that resumes it. Received files keep the sender's modification time and permission bits, less your
      umask. An interrupted transfer continues when run again (resume is the default; a part file
      that is not the start of the same file is emptied, with a warning naming it);
      \`--no-resume\` starts over. \`--overwrite\` replaces an existing file.

      \`--send DIR\` sends a directory tree (empty directories too; symbolic links and special
      files are skipped, each named in a warning) with one progress display and one summary.

      \`--send - --as NAME\` uploads standard input: it is read to its end into a private
      temporary file first (an upload announces its size and hash), then sent, and the temporary
      file removed. \`--get NAME --out -\` writes the download to standard output as it arrives
      (log lines go to stderr); the hash is checked at the end and the exit code is 1 if it did not
      match. \`--list\` shows what a server with \`--allow-download\` offers (size, time, name;
      with \`--json\`, one JSON object per file). A download larger than \`--max-size MIB\`, or
      than the free space at \`--out\`, is refused before anything is written. A failed transfer
      is reported and the next one runs; the exit code is then 1. Ctrl-C stops cleanly, keeps the part file and exits 130
      (SIGTERM: 143).
      \`--bwup S\` / \`--bwdown S\` test the encrypted channel's bandwidth for S seconds: up sends to
      the server, down is the reverse mode (the server sends); a line a second in Mbit/s, then a
      summary, also on Ctrl-C.

      \`--ping N\` sends N encrypted heartbeats and prints each round-trip time and a summary.
      \`--persist\` stays connected and handshakes again (with backoff) whenever the session
      dies, until SIGINT. On exit the client tells the server to close the session.

      The server's identity is checked as ssh does: recorded in ~/.bittrrt/known_hosts on first
      contact, refused loudly if it ever changes, showing the new fingerprint and the command that
      forgets the old one (\`bittrrt known-hosts remove HOST:PORT\`; \`known-hosts list\` shows
      them all). \`--server-key\` pins it instead; \`--no-pin\` accepts anything (throwaway use
      only). The client identity shown to servers that admit only listed clients is
      \`--identity FILE\` (config identity_file), else ~/.bittrrt/client.key when it exists
      (\`bittrrt keygen --client\` writes it; \`-v\` says which is used); \`--no-identity\`
      shows none. A server that answers only with the original,
      unauthenticated protocol (version 1) is refused: an attacker on the path can strip version 2
      to make any server look like that. \`--allow-unauthenticated\` (config:
      \`allow_unauthenticated=true\`) accepts it, for original bittrrt peers, with a warning and
      nothing recorded; even then a known or pinned server, a network key or an identity never
      falls back to it (with it, ~/.bittrrt/client.key is not used by default).
    `,
    examples: [
      ['Connect to a local server', '$0 connect'],
      ['Measure round-trip time with 5 heartbeats', '$0 connect 192.0.2.7 --ping 5'],
      ['Stay connected', '$0 connect [::1]:6711 --persist'],
      ['Require a server key and a network key', '$0 connect host --server-key <base64> --key-file ~/.bittrrt/network.key'],
      ['Upload two files', '$0 connect 192.0.2.7 --send ./a.iso --send ./b.tar'],
      ['Upload a directory tree', '$0 connect 192.0.2.7 --send ./photos'],
      ['Download a file (run it again after an interruption to continue)', '$0 connect 192.0.2.7 --get a.iso --out ~/Downloads/'],
      ['Upload a stream from standard input', 'tar c dir | $0 connect 192.0.2.7 --send - --as dir.tar'],
      ['Download to standard output', '$0 connect 192.0.2.7 --get dir.tar --out - | tar x'],
      ['List what a server offers', '$0 connect 192.0.2.7 --list'],
      ['Measure upload bandwidth for 10 seconds', '$0 connect 192.0.2.7 --bwup 10'],
    ],
  });

  target = Option.String({ required: false, name: 'host[:port]' });
  ping = Option.String('--ping', { description: 'send N heartbeats and report their round-trip times' });
  interval = Option.String('--interval', { description: 'milliseconds between --ping heartbeats (default 1000)' });
  persist = Option.Boolean('--persist', false, { description: 'stay connected and reconnect until SIGINT' });
  serverKey = Option.String('--server-key', { description: 'the server identity public key (base64) to require' });
  knownHostsFile = Option.String('--known-hosts', { description: 'trust-on-first-use file (default ~/.bittrrt/known_hosts)' });
  noPin = Option.Boolean('--no-pin', false, { description: 'accept any server identity and record nothing (throwaway use)' });
  noIdentity = Option.Boolean('--no-identity', false, { description: 'show the server no client identity, not even ~/.bittrrt/client.key' });
  allowUnauthenticated = Option.Boolean('--allow-unauthenticated', {
    description: 'accept a server that answers only with the original, unauthenticated protocol (version 1); anyone on the path can then read the session',
  });
  list = Option.Boolean('--list', false, { description: 'show the files the server offers for download: size, modification time (UTC), name' });
  send = Option.Array('--send', [], { description: 'upload FILE or a directory tree to the server (repeatable; - reads standard input, with --as)' });
  as = Option.String('--as', { description: 'name on the server for a single --send' });
  get = Option.Array('--get', [], { description: 'download NAME from the server (repeatable)' });
  out = Option.String('--out', { description: 'where --get writes: a file, a directory (DIR/ is created if missing), or - for standard output (default: current directory)' });
  resume = Option.Boolean('--resume', { description: 'continue from the receiver\'s NAME.part when it is the start of the same file (the default; --no-resume starts over)' });
  overwrite = Option.Boolean('--overwrite', false, { description: 'replace a file that already exists' });
  bwup = Option.String('--bwup', { description: 'bandwidth test: send for SECONDS' });
  bwdown = Option.String('--bwdown', { description: 'bandwidth test, reverse mode: the server sends for SECONDS' });
  maxDatagram = Option.String('--max-datagram', { description: 'largest UDP payload of a transfer datagram, in bytes (default 1444)' });
  maxSize = Option.String('--max-size', { description: 'largest file --get takes, in MiB; a larger one is refused before anything is written (default 0: no limit)' });

  override async execute(): Promise<number> {
    const { host, port } = userInput(() => parseHostPort(this.target));
    const count = this.ping === undefined ? undefined : positiveInteger('--ping', this.ping);
    const interval = this.interval === undefined ? 1000 : positiveInteger('--interval', this.interval);
    if (count !== undefined && this.persist) throw new UsageError('--ping and --persist cannot be used together');
    const plan = this.transferPlan();
    if (plan && (count !== undefined || this.persist)) throw new UsageError('transfers cannot be combined with --ping or --persist');
    if (plan) checkLocalPaths(plan.send, plan.out);
    if (this.list && (plan || count !== undefined || this.persist)) throw new UsageError('--list runs alone: not with transfers, --ping or --persist');
    const settings = this.settings({
      known_hosts: { name: '--known-hosts', value: this.knownHostsFile },
      max_datagram: { name: '--max-datagram', value: this.maxDatagram },
      max_size: { name: '--max-size', value: this.maxSize },
      allow_unauthenticated: { name: '--allow-unauthenticated', value: this.allowUnauthenticated === undefined ? undefined : String(this.allowUnauthenticated) },
    });
    if (plan) {
      plan.maxDatagram = settings.max_datagram;
      plan.maxSize = settings.max_size === 0 ? undefined : settings.max_size * 1024 * 1024;
    }
    // With --out - or --list, standard output carries the file or the listing and nothing else.
    const plainLog = this.logger(settings, this.out === STDIO || this.list ? this.context.stderr : undefined);
    // Progress bars share the terminal with log lines, which clear the bar's line first.
    const bars = plan && !this.quiet && !this.json && process.stderr.isTTY ? new StatusLine(process.stderr) : undefined;
    const log = bars ? clearingLogger(plainLog, bars) : plainLog;
    if (this.noPin && this.serverKey !== undefined) throw new UsageError('--no-pin and --server-key cannot be used together');
    const serverKey = this.serverKey === undefined ? undefined : fromBase64Url(this.serverKey);
    if (serverKey === null || (serverKey && serverKey.length !== X25519_KEY_BYTES)) {
      throw new UsageError(`bad value for --server-key: expected the server's 32-byte public key in URL-safe base64`);
    }
    const knownHosts = this.noPin || serverKey ? undefined : new KnownHosts(settings.known_hosts || defaultKnownHostsPath());
    const options: ConnectOptions = {
      host,
      port,
      timings: this.timings(settings),
      networkKey: this.networkKey(settings),
      // A default identity would make an original (version-1) peer unreachable even when asked for.
      identity: clientIdentity(settings.identity_file, this.noIdentity || (settings.allow_unauthenticated && settings.identity_file === ''), log),
      serverKey,
      verifyServer: knownHosts && trustOnFirstUse(knownHosts,
        (name, key) => log.warn(`new server ${name}: identity recorded`, { fingerprint: fingerprint(key), file: knownHosts.path })),
      allowSeed: settings.allow_unauthenticated,
    };
    const established = (session: Session): void => {
      const peer = formatAddress(session.remote.address, session.remote.port);
      log.info('secure channel established', { peer, version: session.version });
      log.debug('datagram path', { datagrams: datagramPathLabel(session.ioStats()) });
      if (session.version === 1) {
        log.warn('the server speaks only the original protocol: this session is NOT authenticated '
          + '(anyone on the path could read it); pin a bittrrt server with --server-key, or use --key-file', { peer });
      }
      session.on('rekey', () => log.info('session keys rotated', { peer }));
    };

    if (this.persist) {
      const client = new PersistentClient(options);
      client.on('session', established);
      client.on('lost', (reason) => log.warn('session lost, reconnecting', { reason }));
      client.on('retry', (delayMs, err) => log.warn(`${connectFailure(err) ?? err.message}; retrying`, { in_ms: delayMs }));
      void waitForStopSignal().then(() => client.stop());
      try {
        await client.run();
      } catch (err) {
        return reportConnectFailure(err, log);
      }
      return 0;
    }

    let session: Session;
    try {
      session = await connect(options);
    } catch (err) {
      return reportConnectFailure(err, log);
    }
    established(session);
    if (plan) return this.transfer(session, plan, log, bars, PEER_SILENCE_HEARTBEATS * settings.heartbeat_rate);
    if (this.list) return printListing(session, this.context.stdout, this.json, log);
    if (count === undefined) {
      session.close();
      return 0;
    }
    const stop = new AbortController();
    void waitForStopSignal().then(() => stop.abort());
    const from = formatAddress(session.remote.address, session.remote.port);
    const summary = await pingSeries(session, count, interval, (result) => {
      if ('rtt' in result) log.info('heartbeat reply', { from, seq: result.sequence, time_ms: result.rtt.toFixed(3) });
      else log.warn('heartbeat timed out', { seq: result.sequence });
    }, stop.signal);
    session.close();
    log.info('ping summary', {
      sent: summary.sent,
      received: summary.received,
      loss_pct: summary.loss.toFixed(1),
      min_ms: summary.min.toFixed(3),
      avg_ms: summary.avg.toFixed(3),
      max_ms: summary.max.toFixed(3),
      mdev_ms: summary.mdev.toFixed(3),
    });
    return summary.received > 0 ? 0 : 1;
  }

  /** The transfers asked for, checked; undefined when none. */
  private transferPlan(): TransferPlan | undefined {
    const any = this.send.length > 0 || this.get.length > 0 || this.bwup !== undefined || this.bwdown !== undefined;
    if (!any) {
      for (const [flag, set] of [['--as', this.as], ['--out', this.out]] as const) if (set !== undefined) throw new UsageError(`${flag} needs --send or --get`);
      if (this.resume !== undefined || this.overwrite) throw new UsageError('--resume, --no-resume and --overwrite need --send or --get');
      return undefined;
    }
    if (this.as !== undefined && this.send.length !== 1) throw new UsageError('--as names one file: use it with exactly one --send');
    if (this.send.includes(STDIO) && this.as === undefined) throw new UsageError('--send - reads standard input: name the file on the server with --as NAME');
    if (this.out === STDIO && this.get.length !== 1) throw new UsageError('--out - writes one download to standard output: use it with exactly one --get');
    if (this.out !== undefined && this.get.length === 0) throw new UsageError('--out needs --get');
    if (this.out !== undefined && this.get.length > 1 && !isDirectory(this.out) && !namesDirectory(this.out)) {
      throw new UsageError('with several --get, --out must be a directory (an existing one, or one ending in / to create)');
    }
    return {
      send: this.send,
      as: this.as,
      get: this.get,
      out: this.out,
      // As croc does: an interrupted transfer continues when run again, unless told to start over.
      resume: this.resume ?? true,
      overwrite: this.overwrite,
      bwup: this.bwup === undefined ? undefined : positiveInteger('--bwup', this.bwup, MAX_BANDWIDTH_SECONDS),
      bwdown: this.bwdown === undefined ? undefined : positiveInteger('--bwdown', this.bwdown, MAX_BANDWIDTH_SECONDS),
    };
  }

  private async transfer(session: Session, plan: TransferPlan, log: Logger, bars: StatusLine | undefined, peerSilenceMs: number): Promise<number> {
    if (session.version !== 2) {
      session.close();
      log.error('this server speaks only the original protocol, which cannot transfer files');
      return 1;
    }
    const stop = new AbortController();
    let signal: NodeJS.Signals = 'SIGINT';
    void waitForStopSignal().then((received) => {
      signal = received;
      stop.abort();
    });
    const failed = await runTransfers(session, plan, { log, bars, signal: stop.signal, argv: process.argv.slice(2), peerSilenceMs });
    session.close();
    // Stopped by a signal: 128 + its number, as shells report it (130 for Ctrl-C, 143 for SIGTERM).
    return failed < 0 ? 128 + osConstants.signals[signal] : failed > 0 ? 1 : 0;
  }
}

function positiveInteger(flag: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new UsageError(`bad value for ${flag}: ${JSON.stringify(text)} (expected a whole number${max === Number.MAX_SAFE_INTEGER ? ' above 0' : ` 1-${max}`})`);
  }
  return Number(text);
}
