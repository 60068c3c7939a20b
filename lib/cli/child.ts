import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { packagePath } from '../package-root.js';

/** The bin/bittrrt executable of this package. */
export const BITTRRT_BIN = packagePath('bin', 'bittrrt');

/** A running `bittrrt` child process, with its output split into lines. */
export interface BittrrtProcess {
  readonly child: ChildProcess;
  /** Every line printed so far, stdout and stderr, in arrival order. */
  readonly lines: string[];
  /**
   * Resolves with the first line (past or future) matching `pattern`. Rejects once the process's
   * output has ended without such a line, or after `timeoutMs` (a ceiling for a process that stays
   * up but never prints it).
   */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | NodeJS.Signals>;
}

export function spawnBittrrt(args: string[], onLine?: (line: string, stream: 'stdout' | 'stderr') => void,
  env: NodeJS.ProcessEnv = process.env): BittrrtProcess {
  const child = spawn(process.execPath, [BITTRRT_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const lines: string[] = [];
  const waiters = new Set<(line: string | null) => void>();
  // Both streams have ended (every line has been delivered): no line can match any more.
  let openStreams = 2;
  for (const stream of ['stdout', 'stderr'] as const) {
    createInterface({ input: child[stream] as NodeJS.ReadableStream }).on('line', (line) => {
      lines.push(line);
      onLine?.(line, stream);
      for (const waiter of waiters) waiter(line);
    }).on('close', () => {
      if (--openStreams > 0) return;
      for (const waiter of [...waiters]) waiter(null);
    });
  }
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? (signal as NodeJS.Signals)));
  });
  const waitForLine = (pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> => {
    for (const line of lines) {
      const match = pattern.exec(line);
      if (match) return Promise.resolve(match);
    }
    const missing = (why: string): Error => new Error(`no line matching ${pattern} ${why}; output so far:\n${lines.join('\n')}`);
    if (openStreams === 0) return Promise.reject(missing('before the output ended'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(missing(`within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = (line: string | null): void => {
        const match = line === null ? null : pattern.exec(line);
        if (line !== null && !match) return;
        clearTimeout(timer);
        waiters.delete(check);
        if (match) resolve(match);
        else reject(missing('before the output ended'));
      };
      waiters.add(check);
    });
  };
  return { child, lines, waitForLine, exited };
}
