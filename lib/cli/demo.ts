import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { Command } from 'clipanion';
import { spawnBittrrt, type BittrrtProcess } from './child.js';

const DEMO_FILE_BYTES = 8 * 1024 * 1024;
/**
 * How long the demo waits for a line from its server. The waits end at the line, or as soon as
 * the server's output ends; this ceiling is reached only by a server that stays up and never
 * prints it, so it is set for a heavily loaded machine, not an idle one.
 */
const LINE_CEILING_MS = 120_000;

/**
 * Shows everything bittrrt can do so far, with the real executable: a server and clients on
 * loopback, each a child process, their output interleaved.
 */
export class DemoCommand extends Command {
  static override paths = [['demo']];
  static override usage = Command.Usage({
    description: 'run a server and clients on loopback and show what bittrrt does',
    details: `
      In a temporary HOME: makes a network key (\`bittrrt keygen\`), starts \`bittrrt serve\` with
      it on a free loopback port with fast timers (its start line names the datagram path: the
      native addon's batches when it is built, else node:dgram), then: \`bittrrt connect\` (authenticated
      handshake; the server identity is recorded on first contact; clean close);
      \`bittrrt connect --ping 5\` (encrypted heartbeats with round-trip times while the keys
      rotate every second); an 8 MiB upload into the server's \`--dir\` and its download back by a
      client on node:dgram, checked byte for byte (\`--send\`, \`--get\`); a directory tree sent (\`--send DIR\`);
      what the server offers (\`--list\`); a file written to standard output (\`--out -\`); a
      bandwidth test each way (\`--bwup\`, \`--bwdown\`); a connection to a port nobody serves,
      refused at once; a status line (SIGUSR1); and a clean stop (SIGINT).
    `,
  });

  override async execute(): Promise<number> {
    const out = this.context.stdout;
    const say = (line: string): void => {
      out.write(`[demo] ${line}\n`);
    };
    // A HOME of its own: the demo's keys, server identity and known hosts are not the user's.
    const home = mkdtempSync(join(tmpdir(), 'bittrrt-demo-'));
    const env = { ...process.env, HOME: home };
    const child = (who: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): BittrrtProcess =>
      spawnBittrrt(args, (line) => out.write(`[${who}] ${line}\n`), { ...env, ...extraEnv });
    const keyFile = join(home, 'network.key');
    const timers = ['--heartbeat-rate', '500', '--rekey-after', '1'];
    const inbox = join(home, 'inbox');
    mkdirSync(inbox);
    const sample = join(home, 'sample.bin');
    writeFileSync(sample, randomBytes(DEMO_FILE_BYTES));
    const copy = join(home, 'copy.bin');
    // A small tree: nested files and an empty directory, sent with one --send.
    const tree = join(home, 'photos');
    mkdirSync(join(tree, '2026', 'empty'), { recursive: true });
    writeFileSync(join(tree, 'notes.txt'), 'hello from bittrrt\n');
    writeFileSync(join(tree, '2026', 'a.jpg'), randomBytes(300_000));
    writeFileSync(join(inbox, 'readme.txt'), 'this file came to standard output, its SHA-256 checked\n');

    say(`bittrrt keygen --out ${keyFile}`);
    if (await child('keygen', ['keygen', '--out', keyFile]).exited !== 0) return 1;
    say('bittrrt serve --bind 127.0.0.1 --port 0 --key-file <key> --heartbeat-rate 500 --rekey-after 1 --dir <inbox> --allow-download');
    const server = child('server', ['serve', '--bind', '127.0.0.1', '--port', '0', '--key-file', keyFile, ...timers, '--dir', inbox, '--allow-download']);
    try {
      const [, address] = await server.waitForLine(/listening on ([^\s"]+)/, LINE_CEILING_MS);
      const steps: Array<[string, string[], NodeJS.ProcessEnv?]> = [
        [`bittrrt connect ${address} --key-file <key>   (first contact: the server identity is recorded)`,
          ['connect', address as string, '--key-file', keyFile]],
        [`bittrrt connect ${address} --key-file <key> --ping 5 --interval 400   (keys rotate every second meanwhile)`,
          ['connect', address as string, '--key-file', keyFile, '--ping', '5', '--interval', '400', ...timers]],
        [`bittrrt connect ${address} --key-file <key> --send sample.bin   (8 MiB, into the server's --dir, SHA-256 checked)`,
          ['connect', address as string, '--key-file', keyFile, '--send', sample]],
        [`BITTRRT_IO=dgram bittrrt connect ${address} --key-file <key> --get sample.bin --out copy.bin   `
          + '(a client on node:dgram, the server on the datagram path its start line names: one wire format)',
        ['connect', address as string, '--key-file', keyFile, '--get', 'sample.bin', '--out', copy], { BITTRRT_IO: 'dgram' }],
        [`bittrrt connect ${address} --key-file <key> --send photos   (a directory tree, empty directories included)`,
          ['connect', address as string, '--key-file', keyFile, '--send', tree]],
        [`bittrrt connect ${address} --key-file <key> --list   (what the server offers: size, time, name)`,
          ['connect', address as string, '--key-file', keyFile, '--list']],
        [`bittrrt connect ${address} --key-file <key> --get readme.txt --out -   (to standard output)`,
          ['connect', address as string, '--key-file', keyFile, '--get', 'readme.txt', '--out', '-', '--quiet']],
        [`bittrrt connect ${address} --key-file <key> --bwup 2 --bwdown 2   (bandwidth of the encrypted channel, each way)`,
          ['connect', address as string, '--key-file', keyFile, '--bwup', '2', '--bwdown', '2']],
      ];
      let failed = false;
      for (const [title, args, extraEnv] of steps) {
        say(title);
        if (await child('client', args, extraEnv).exited !== 0) failed = true;
      }
      // A mistake the client reports at once: nothing listens on a port the kernel just handed
      // out and took back (loopback answers with ICMP port unreachable), so this must fail, fast.
      const closed = `127.0.0.1:${await vacantPort()}`;
      say(`bittrrt connect ${closed} --ping 1   (nothing listens there: refused at once, exit 1)`);
      if (await child('client', ['connect', closed, '--ping', '1', '--no-pin']).exited !== 1) failed = true;
      const identical = readFileSync(copy).equals(readFileSync(sample));
      say(`copy.bin ${identical ? 'is' : 'is NOT'} byte-identical to sample.bin`);
      if (!identical) failed = true;
      // Printed long ago on any machine (the ping client alone lasted two key periods); the wait
      // ends at that line, or at once if the server has exited.
      await server.waitForLine(/session keys rotated/, LINE_CEILING_MS);
      say('kill -USR1 <server>: counters on demand');
      server.child.kill('SIGUSR1');
      await server.waitForLine(/^status /, LINE_CEILING_MS);
      say('kill -INT <server>');
      server.child.kill('SIGINT');
      const serverCode = await server.exited;
      say(`server exited with ${serverCode}`);
      return !failed && serverCode === 0 ? 0 : 1;
    } finally {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
      rmSync(home, { recursive: true, force: true });
    }
  }
}

/** A loopback UDP port nothing listens on: one the kernel hands out, closed again at once. */
async function vacantPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}
