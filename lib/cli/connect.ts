import { Option, UsageError } from 'clipanion';
import { X25519_KEY_BYTES } from '../constants.js';
import { fromBase64Url } from '../encoding.js';
import { formatAddress, parseHostPort } from '../net/address.js';
import { connect, HandshakeTimeoutError, type ConnectOptions } from '../net/client.js';
import { PersistentClient } from '../net/persistent.js';
import { pingSeries } from '../net/ping.js';
import type { Session } from '../net/session.js';
import { fingerprint, loadIdentity } from '../trust/identity.js';
import { defaultKnownHostsPath, KnownHosts } from '../trust/known-hosts.js';
import { EndpointCommand } from './endpoint-command.js';
import { userInput } from './errors.js';
import { waitForStopSignal } from './signals.js';

export class ConnectCommand extends EndpointCommand {
  static override paths = [['connect']];
  static override usage = EndpointCommand.Usage({
    description: 'open a secure session to a bittrrt server',
    details: `
      Sends the X25519 handshake to HOST:PORT (default 127.0.0.1:6711) up to 50 times, 100 ms
      apart, and reports the established session. Exits 1 if the server never answers.

      \`--ping N\` sends N encrypted heartbeats and prints each round-trip time and a summary.
      \`--persist\` stays connected and handshakes again (with backoff) whenever the session
      dies, until SIGINT. On exit the client tells the server to close the session.

      The server's identity is checked as ssh does: recorded in ~/.bittrrt/known_hosts on first
      contact, refused loudly if it ever changes. \`--server-key\` pins it instead; \`--no-pin\`
      accepts anything (throwaway use only). With a known or pinned server, a network key or an
      identity, the client never falls back to the original, unauthenticated protocol.
    `,
    examples: [
      ['Connect to a local server', '$0 connect'],
      ['Measure round-trip time with 5 heartbeats', '$0 connect 192.0.2.7 --ping 5'],
      ['Stay connected', '$0 connect [::1]:6711 --persist'],
      ['Require a server key and a network key', '$0 connect host --server-key <base64> --key-file ~/.bittrrt/network.key'],
    ],
  });

  target = Option.String({ required: false, name: 'host[:port]' });
  ping = Option.String('--ping', { description: 'send N heartbeats and report their round-trip times' });
  interval = Option.String('--interval', { description: 'milliseconds between --ping heartbeats (default 1000)' });
  persist = Option.Boolean('--persist', false, { description: 'stay connected and reconnect until SIGINT' });
  serverKey = Option.String('--server-key', { description: 'the server identity public key (base64) to require' });
  knownHostsFile = Option.String('--known-hosts', { description: 'trust-on-first-use file (default ~/.bittrrt/known_hosts)' });
  noPin = Option.Boolean('--no-pin', false, { description: 'accept any server identity and record nothing (throwaway use)' });

  override async execute(): Promise<number> {
    const { host, port } = userInput(() => parseHostPort(this.target));
    const count = this.ping === undefined ? undefined : positiveInteger('--ping', this.ping);
    const interval = this.interval === undefined ? 1000 : positiveInteger('--interval', this.interval);
    if (count !== undefined && this.persist) throw new UsageError('--ping and --persist cannot be used together');
    const settings = this.settings({ known_hosts: { name: '--known-hosts', value: this.knownHostsFile } });
    const log = this.logger(settings);
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
      identity: settings.identity_file === '' ? undefined : loadIdentity(settings.identity_file, 'client identity'),
      serverKey,
      knownHosts,
      onNewHost: (name, key) => log.warn(`new server ${name}: identity recorded`, { fingerprint: fingerprint(key), file: knownHosts?.path }),
    };
    const established = (session: Session): void => {
      const peer = formatAddress(session.remote.address, session.remote.port);
      log.info('secure channel established', { peer, version: session.version });
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
      client.on('retry', (delayMs, err) => log.warn(`${err.message}; retrying`, { in_ms: delayMs }));
      void waitForStopSignal().then(() => client.stop());
      await client.run();
      return 0;
    }

    let session: Session;
    try {
      session = await connect(options);
    } catch (err) {
      if (!(err instanceof HandshakeTimeoutError)) throw err;
      log.error(`cannot connect: ${err.message}`);
      return 1;
    }
    established(session);
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
    });
    return summary.received > 0 ? 0 : 1;
  }
}

function positiveInteger(flag: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`bad value for ${flag}: ${JSON.stringify(text)} (expected a positive whole number)`);
  return Number(text);
}
