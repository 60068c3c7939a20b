import { createSocket } from 'node:dgram';
import { spawnBittrrt, type BittrrtProcess } from '../../lib/cli/child.js';
import { tempDir } from './tmp.js';

/**
 * A HOME of the tests' own, so the server identity, known_hosts and keys that the CLI keeps in
 * ~/.bittrrt never touch the real one.
 */
export const TEST_HOME = tempDir('home');
export const testEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...process.env, HOME: TEST_HOME, ...extra });

export const LISTENING = /listening on ([^\s"]+)/;

/**
 * Starts `bittrrt` child processes and kills whatever is still running in `cleanup()`
 * (call it from afterEach).
 */
export class Children {
  readonly #running: BittrrtProcess[] = [];

  run(args: string[], env: NodeJS.ProcessEnv = testEnv()): BittrrtProcess {
    const proc = spawnBittrrt(args, undefined, env);
    this.#running.push(proc);
    return proc;
  }

  /** `bittrrt serve` on loopback; resolves once it printed its address. */
  async serve(args: string[] = [], port = 0): Promise<{ proc: BittrrtProcess; address: string; port: number }> {
    const proc = this.run(['serve', '--bind', '127.0.0.1', '--port', String(port), ...args]);
    const [, address] = await proc.waitForLine(LISTENING, 10_000);
    return { proc, address: address as string, port: Number((address as string).split(':')[1]) };
  }

  async cleanup(): Promise<void> {
    for (const proc of this.#running.splice(0)) {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
      await proc.exited;
    }
  }
}

/** A UDP port that nobody serves: bind one, note it, close it. */
export async function unusedPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
