/** Files to move again, as `connect`'s options name them. */
export interface Unfinished {
  send: readonly string[];
  /** The name on the server of a single --send. */
  as?: string;
  get: readonly string[];
  out?: string;
}

/** Options of `connect` that name what to move: a new command line names the unfinished ones instead. */
const TRANSFER_OPTIONS_WITH_VALUE = new Set(['--send', '--get', '--as', '--out', '--bwup', '--bwdown']);
const TRANSFER_SWITCHES = new Set(['--resume', '--no-resume']);

/**
 * The command that continues `unfinished`: this run's own arguments (`argv`, as typed after `bittrrt`:
 * the host, keys, trust and every other option) without the transfers it asked for, then the
 * unfinished ones, then `--resume` (not for a download to standard output, which starts over). Each argument is quoted for a POSIX shell where it needs it.
 */
export function resumeCommand(argv: readonly string[], unfinished: Unfinished): string {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      kept.push(...argv.slice(i));
      break;
    }
    const flag = arg.split('=', 1)[0]!;
    if (TRANSFER_SWITCHES.has(flag)) continue;
    if (TRANSFER_OPTIONS_WITH_VALUE.has(flag)) {
      // `--send FILE` takes the next argument; `--send=FILE` is one.
      if (!arg.includes('=')) i++;
      continue;
    }
    kept.push(arg);
  }
  const { send, as, get, out } = unfinished;
  const added = [
    ...send.flatMap((path) => ['--send', path]),
    ...(as !== undefined && send.length === 1 ? ['--as', as] : []),
    ...get.flatMap((name) => ['--get', name]),
    ...(out !== undefined && get.length > 0 ? ['--out', out] : []),
  ];
  // A download to standard output cannot continue (the bytes already went out): it starts over.
  const again = out === '-' ? [] : ['--resume'];
  return ['bittrrt', ...kept, ...added, ...again].map(shellQuote).join(' ');
}

/** `word` as a POSIX shell reads it back: as it is when it is plain, else in single quotes. */
export function shellQuote(word: string): string {
  if (/^[\w@%+=:,./~-]+$/.test(word) && !word.startsWith('~')) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
