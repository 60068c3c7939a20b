import { spawn, type ChildProcess } from 'node:child_process';
import { BITTRRT_BIN } from '../../lib/cli/child.js';
import { shellQuote } from '../../lib/cli/resume-hint.js';

/** `bittrrt` running in a pseudo-terminal, and everything it drew there. */
export interface PtyProcess {
  readonly child: ChildProcess;
  /** The raw bytes written to the terminal so far, as text (escape sequences included). */
  output(): string;
  /** Resolves once the output matches `pattern`; rejects when the process ends first or after `timeoutMs` (a hang guard). */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** The exit code of bittrrt, once it has exited. */
  readonly exited: Promise<number | NodeJS.Signals>;
}

/**
 * Runs `bin/bittrrt ARGS` on a terminal of `columns` columns, as a person would, through util-linux
 * `script` (which gives the child a pseudo-terminal for stdin, stdout and stderr, and passes its
 * exit code on with -e).
 */
export function runInPty(args: readonly string[], columns: number, env: NodeJS.ProcessEnv): PtyProcess {
  const command = `stty cols ${columns} rows 24; exec ${[process.execPath, BITTRRT_BIN, ...args].map(shellQuote).join(' ')}`;
  // stdin stays open: `script` ends the session when its input ends.
  const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env });
  let text = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
    for (const waiter of [...waiters]) waiter();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.on('exit', (code, signal) => {
      for (const waiter of [...waiters]) waiter();
      resolve(code ?? (signal as NodeJS.Signals));
    });
  });
  const waitFor = (pattern: RegExp, timeoutMs: number): Promise<void> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no output matching ${pattern} within ${timeoutMs} ms; so far:\n${JSON.stringify(text)}`)), timeoutMs);
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      waiters.delete(check);
      if (err) reject(err);
      else resolve();
    };
    const check = (): void => {
      if (pattern.test(text)) finish();
      else if (child.exitCode !== null || child.signalCode !== null) finish(new Error(`the process ended without output matching ${pattern}:\n${JSON.stringify(text)}`));
    };
    waiters.add(check);
    check();
  });
  return { child, output: () => text, waitFor, exited };
}

/** What a terminal shows for `raw`: the lines that stayed, and every state of a line redrawn in place (a progress bar's frames). */
export interface Screen {
  lines: string[];
  frames: string[];
}

/**
 * Replays terminal output: `\r` returns to the line's start, `ESC [K` erases to its end, `\n`
 * ends a line. A line redrawn in place yields a frame each time it is erased after being drawn.
 */
export function replay(raw: string): Screen {
  const lines: string[] = [];
  const frames: string[] = [];
  let line = '';
  let column = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (raw.startsWith('\x1b[K', i)) {
      line = line.slice(0, column);
      if (line !== '') frames.push(line);
      i += 2;
    } else if (c === '\r') {
      column = 0;
    } else if (c === '\n') {
      lines.push(line);
      line = '';
      column = 0;
    } else {
      line = line.slice(0, column) + c + line.slice(column + 1);
      column++;
    }
  }
  if (line !== '') lines.push(line);
  return { lines, frames };
}
