import { Command, Option } from 'clipanion';
import { formatAddress, parseHostPort } from '../net/address.js';
import { connect, HandshakeTimeoutError } from '../net/client.js';
import { userInput } from './errors.js';

export class ConnectCommand extends Command {
  static override paths = [['connect']];
  static override usage = Command.Usage({
    description: 'open a secure channel to a bittrrt server',
    details: `
      Sends the X25519 handshake to HOST:PORT (default 127.0.0.1:6711) up to 50 times, 100 ms
      apart, and reports the established channel. Exits 1 if the server never answers.
    `,
    examples: [
      ['Connect to a local server', '$0 connect'],
      ['Connect by name and port', '$0 connect example.org:7000'],
      ['Connect over IPv6', '$0 connect [::1]:6711'],
    ],
  });

  target = Option.String({ required: false, name: 'host[:port]' });

  override async execute(): Promise<number> {
    const { host, port } = userInput(() => parseHostPort(this.target));
    const channel = await connect({ host, port }).catch((err: unknown) => {
      if (err instanceof HandshakeTimeoutError) {
        this.context.stderr.write(`bittrrt: cannot connect: ${err.message}\n`);
        return null;
      }
      throw err;
    });
    if (!channel) return 1;
    this.context.stdout.write(
      `secure channel established with ${formatAddress(channel.remote.address, channel.remote.port)} (X25519 + ChaCha20-Poly1305)\n`);
    await channel.close();
    return 0;
  }
}
