import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

/** The bin/bittrrt executable of this package. */
export const BITTRRT_BIN = fileURLToPath(new URL('../../../bin/bittrrt', import.meta.url));

/** A running `bittrrt` child process, with its output split into lines. */
export interface BittrrtProcess {
  readonly child: ChildProcess;
  /** Every line printed so far, stdout and stderr, in arrival order. */
  readonly lines: string[];
  /** Resolves with the first line (past or future) matching `pattern`; rejects after `timeoutMs`. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | NodeJS.Signals>;
}

export function spawnBittrrt(args: string[], onLine?: (line: string, stream: 'stdout' | 'stderr') => void,
  env: NodeJS.ProcessEnv = process.env): BittrrtProcess {
  const child = spawn(process.execPath, [BITTRRT_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const lines: string[] = [];
  const waiters = new Set<(line: string) => void>();
  for (const stream of ['stdout', 'stderr'] as const) {
    createInterface({ input: child[stream] as NodeJS.ReadableStream }).on('line', (line) => {
      lines.push(line);
      onLine?.(line, stream);
      for (const waiter of waiters) waiter(line);
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
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output so far:\n${lines.join('\n')}`));
      }, timeoutMs);
      const check = (line: string): void => {
        const match = pattern.exec(line);
        if (!match) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(match);
      };
      waiters.add(check);
    });
  };
  return { child, lines, waitForLine, exited };
}
