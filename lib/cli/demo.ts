import { Command } from 'clipanion';
import { spawnBittrrt } from './child.js';

/**
 * Shows everything bittrrt can do so far, with the real executable: a server and a client on
 * loopback, each a child process, their output interleaved.
 */
export class DemoCommand extends Command {
  static override paths = [['demo']];
  static override usage = Command.Usage({
    description: 'run a server and a client on loopback and show the secure channel',
    details: 'Starts `bittrrt serve` on a free loopback port, runs `bittrrt connect` against it, then stops the server.',
  });

  override async execute(): Promise<number> {
    const print = (who: string) => (line: string): void => {
      this.context.stdout.write(`[${who}] ${line}\n`);
    };
    const server = spawnBittrrt(['serve', '--bind', '127.0.0.1', '--port', '0'], print('server'));
    try {
      const [, address] = await server.waitForLine(/listening on ([^\s"]+)/, 10_000);
      this.context.stdout.write(`[demo] bittrrt connect ${address}\n`);
      const client = spawnBittrrt(['connect', address as string], print('client'));
      const clientCode = await client.exited;
      await server.waitForLine(/session established/, 2_000);
      this.context.stdout.write(`[demo] client exited with ${clientCode}; stopping the server with SIGINT\n`);
      server.child.kill('SIGINT');
      const serverCode = await server.exited;
      this.context.stdout.write(`[demo] server exited with ${serverCode}\n`);
      return clientCode === 0 && serverCode === 0 ? 0 : 1;
    } finally {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    }
  }
}
