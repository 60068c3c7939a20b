import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'clipanion';
import { spawnBittrrt, type BittrrtProcess } from './child.js';

/**
 * Shows everything bittrrt can do so far, with the real executable: a server and clients on
 * loopback, each a child process, their output interleaved.
 */
export class DemoCommand extends Command {
  static override paths = [['demo']];
  static override usage = Command.Usage({
    description: 'run a server and clients on loopback and show what bittrrt does',
    details: `
      Starts \`bittrrt serve\` on a free loopback port with fast timers, then: a plain
      \`bittrrt connect\` (handshake and clean close); \`bittrrt connect --ping 5\` (encrypted
      heartbeats with round-trip times, while the keys rotate every second); a status line
      (SIGUSR1); and a clean stop (SIGINT).
    `,
  });

  override async execute(): Promise<number> {
    const out = this.context.stdout;
    const say = (line: string): void => {
      out.write(`[demo] ${line}\n`);
    };
    // A HOME of its own: the demo's server identity and known hosts are not the user's.
    const env = { ...process.env, HOME: mkdtempSync(join(tmpdir(), 'bittrrt-demo-')) };
    const child = (who: string, args: string[]): BittrrtProcess => spawnBittrrt(args, (line) => out.write(`[${who}] ${line}\n`), env);
    const timers = ['--heartbeat-rate', '500', '--rekey-after', '1'];
    say('bittrrt serve --bind 127.0.0.1 --port 0 --heartbeat-rate 500 --rekey-after 1');
    const server = child('server', ['serve', '--bind', '127.0.0.1', '--port', '0', ...timers]);
    try {
      const [, address] = await server.waitForLine(/listening on ([^\s"]+)/, 10_000);
      const steps: Array<[string, string[]]> = [
        [`bittrrt connect ${address}`, ['connect', address as string]],
        [`bittrrt connect ${address} --ping 5 --interval 400`, ['connect', address as string, '--ping', '5', '--interval', '400', ...timers]],
      ];
      let failed = false;
      for (const [title, args] of steps) {
        say(title);
        const code = await child('client', args).exited;
        if (code !== 0) failed = true;
      }
      await server.waitForLine(/session keys rotated/, 2_000);
      say('kill -USR1 <server>: counters on demand');
      server.child.kill('SIGUSR1');
      await server.waitForLine(/^status /, 2_000);
      say('kill -INT <server>');
      server.child.kill('SIGINT');
      const serverCode = await server.exited;
      say(`server exited with ${serverCode}`);
      return !failed && serverCode === 0 ? 0 : 1;
    } finally {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    }
  }
}
