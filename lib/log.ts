import { UNPRINTABLE } from './encoding.js';

/** A small leveled logger: human lines by default, one JSON object per line with `json`. */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export interface Logger {
  /** Whether lines of `level` are written: lets hot paths skip building fields nobody reads. */
  isEnabled(level: LogLevel): boolean;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  /** Lowest level written (default 'info'). */
  level?: LogLevel | 'silent';
  json?: boolean;
  /** Where info and debug lines go (default stdout); warnings and errors go to `errorOut`. */
  out?: NodeJS.WritableStream;
  errorOut?: NodeJS.WritableStream;
}

const RANK: Record<LogLevel | 'silent', number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = RANK[options.level ?? 'info'];
  const out = options.out ?? process.stdout;
  const errorOut = options.errorOut ?? process.stderr;
  const write = (level: LogLevel, message: string, fields: LogFields = {}): void => {
    if (RANK[level] < threshold) return;
    const stream = RANK[level] >= RANK.warn ? errorOut : out;
    if (options.json) {
      stream.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields })}\n`);
      return;
    }
    // A human line does not say a text twice: a field the message already shows word for word (a
    // file's name, the command to run) is left off it; a JSON line has every field.
    const extra = Object.entries(fields)
      .filter(([, v]) => v !== undefined && !(typeof v === 'string' && v.length > 1 && message.includes(v)))
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
    stream.write(`${level === 'info' ? '' : `${level}: `}${escapeControls(`${message}${extra ? ` ${extra}` : ''}`)}\n`);
  };
  return {
    isEnabled: (level) => RANK[level] >= threshold,
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

/**
 * Text lines may carry what a peer sent (a file name, a reason): control characters and
 * bidirectional overrides are shown escaped, so nobody can forge a line or drive a terminal.
 */
function escapeControls(text: string): string {
  return text.replace(new RegExp(UNPRINTABLE.source, 'g'), (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export const silentLogger: Logger = createLogger({ level: 'silent' });
