import { isIP } from 'node:net';
import { Command, Option, UsageError } from 'clipanion';
import { DEFAULT_BIND_ADDR, DEFAULT_PORT } from '../constants.js';
import { createLogger } from '../log.js';
import { formatAddress, parsePort } from '../net/address.js';
import { createServer } from '../net/server.js';
import { userInput } from './errors.js';
import { waitForStopSignal } from './signals.js';

export class ServeCommand extends Command {
  static override paths = [['serve']];
  static override usage = Command.Usage({
    description: 'accept secure channels on a UDP port',
    details: `
      Listens on one UDP port. Each client that completes the X25519 handshake gets its own
      ChaCha20-Poly1305 channel key. Datagrams that are not valid handshakes are dropped without
      an answer (\`--verbose\` logs each drop). Runs until SIGINT or SIGTERM.
    `,
    examples: [
      ['Listen on all IPv4 addresses, port 6711', '$0 serve'],
      ['Listen on IPv6 loopback, any free port', '$0 serve --bind ::1 --port 0'],
    ],
  });

  bind = Option.String('--bind', DEFAULT_BIND_ADDR, { description: 'IP address to listen on (:: for all IPv6)' });
  port = Option.String('--port', String(DEFAULT_PORT), { description: 'UDP port; 0 picks a free one' });
  verbose = Option.Boolean('--verbose', false, { description: 'also log every dropped datagram' });

  override async execute(): Promise<number> {
    const port = userInput(() => parsePort(this.port));
    if (isIP(this.bind) === 0) throw new UsageError(`invalid bind address ${JSON.stringify(this.bind)}: expected an IP address`);
    const logger = createLogger({ level: this.verbose ? 'debug' : 'info', out: this.context.stdout, errorOut: this.context.stderr });
    const server = createServer({ logger });
    server.on('error', (err) => logger.error(err.message));
    // Listen for the stop signals before announcing the port, so a signal sent right after the
    // announcement is never missed.
    const stopped = waitForStopSignal();
    let bound;
    try {
      bound = await server.listen(port, this.bind);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'address already in use' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
      throw new UsageError(`cannot listen on ${formatAddress(this.bind, port)}: ${why}`);
    }
    logger.info(`bittrrt listening on ${formatAddress(bound.address, bound.port)}`);
    const signal = await stopped;
    await server.close();
    const { counters } = server;
    logger.info(`stopped (${signal})`, { handshakes: counters.handshakes, packetsIn: counters.packetsIn, dropped: counters.dropped });
    return 0;
  }
}
