import { placeholder } from './placeholders.js';

/**
 * Command lines checked before clipanion parses them, so that a typo gets a message that names
 * it (clipanion answers most of them "Command not found" with an empty list of suggestions).
 * Only what the registered commands define is accepted; anything this check lets through,
 * clipanion still parses and validates as before.
 */

/** What a command accepts, as clipanion's definitions describe it. */
export interface CommandShape {
  /** The words after `bittrrt` (`['config', 'init']`). */
  path: string[];
  /** Every option name (`--send`, `-q`) and how many values it takes. */
  options: Map<string, number>;
  /** Names of the positional arguments it takes, in order (at most this many). */
  operands: string[];
}

/** The shapes of `definitions` (Cli.definitions()). */
export function commandShapes(definitions: ReadonlyArray<{ path: string; usage: string; options: ReadonlyArray<{ definition: string }> }>): CommandShape[] {
  return definitions.map(({ path: pathText, usage, options }) => {
    const path = pathText.split(' ').slice(1);
    const names = new Map<string, number>();
    for (const { definition } of options) {
      const [flags = '', ...values] = definition.split(' ');
      for (const name of flags.split(',')) names.set(name, values.length);
    }
    const operands = usage.split(' ').slice(1 + path.length).map((word) => word.replace(/^[[<]|[\]>]$/g, ''));
    return { path, options: names, operands };
  });
}

export type ArgvCheck = { argv: string[] } | { error: string };

const TOP_LEVEL = new Set(['-h', '--help', '-V', '--version']);

/** `argv` as clipanion should see it, or the one-line mistake to report instead. */
export function checkArgv(argv: readonly string[], shapes: readonly CommandShape[]): ArgvCheck {
  const [first, ...rest] = argv;
  if (first === undefined) return { argv: [] };
  // `bittrrt help [command]` and `bittrrt version`, as words.
  if (first === 'help') return rest.length === 0 ? { argv: ['--help'] } : checkArgv([...rest, '--help'], shapes);
  if (first === 'version') return { argv: ['--version'] };
  if (first.startsWith('-')) {
    if (TOP_LEVEL.has(first)) return { argv: [...argv] };
    if (first === '-v' || first === '--verbose') return { error: `${first} (verbose) goes after a command, as in "bittrrt serve -v"; the version is -V or --version` };
    return { error: `unknown option ${first} (expected a command first; see bittrrt --help)` };
  }
  const words = [...new Set(shapes.map((shape) => shape.path[0] as string))];
  const family = shapes.filter((shape) => shape.path[0] === first);
  if (family.length === 0) return { error: `unknown command "${first}"${suggest(first, [...words, 'help', 'version'])} (commands: ${words.join(', ')})` };
  let shape = family.find((s) => s.path.length === 1);
  let args = rest;
  if (!shape) {
    // A command with subcommands (config init, known-hosts list|remove).
    const subcommands = family.map((s) => s.path[1] as string);
    const second = rest[0];
    if (second === undefined || second.startsWith('-')) {
      return { error: `${first} needs a subcommand: ${subcommands.map((s) => `${first} ${s}`).join(', ')}` };
    }
    shape = family.find((s) => s.path[1] === second);
    if (!shape) return { error: `unknown subcommand "${first} ${second}"${suggest(second, subcommands)} (${first} has: ${subcommands.join(', ')})` };
    args = rest.slice(1);
  }
  const checked = checkOptions(shape, args);
  return 'error' in checked ? checked : { argv: [...shape.path, ...checked.argv] };
}

/** The arguments after the command's words. */
function checkOptions(shape: CommandShape, args: readonly string[]): ArgvCheck {
  const command = shape.path.join(' ');
  const out: string[] = [];
  const operands: string[] = [];
  // The option whose value the previous word was, and the one an operand followed: a shell
  // pattern after `--send` makes several words, one of which may pass for the host.
  let lastValueOf: string | undefined;
  let operandAfterValueOf: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const word = args[i] as string;
    if (word === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (word === '-h' || word === '--help') {
      out.push(word);
      continue;
    }
    if (word.startsWith('--')) {
      const [name = word] = word.split('=', 1);
      const arity = shape.options.get(name) ?? negatable(shape, name);
      if (arity === undefined) return { error: `unknown option ${name} for ${command}${suggest(name, [...shape.options.keys()])} (see bittrrt ${command} --help)` };
      lastValueOf = undefined;
      if (arity === 0 || word.includes('=')) {
        out.push(word);
        continue;
      }
      const value = args[i + 1];
      // A next word that is one of this command's options is not a value; anything else is, even
      // when it starts with `-`: `-` alone (standard input or output), a negative number, or a
      // base64url key (whose alphabet has `-`).
      if (value === undefined || isOption(shape, value)) {
        return { error: `${name} needs a value: ${name} ${placeholder(name)}${value === undefined ? '' : ` (${value} is an option)`} (see bittrrt ${command} --help)` };
      }
      // `--ping -1`: a value that looks like an option; bound to its flag so the command's own check explains it.
      out.push(`${name}=${value}`);
      lastValueOf = name;
      i++;
      continue;
    }
    if (word.startsWith('-') && word.length > 1 && !/^-\d/.test(word)) {
      for (const letter of word.slice(1)) {
        if (!shape.options.has(`-${letter}`)) {
          return { error: `unknown option -${letter} for ${command}${letter === 'V' ? ' (the version is "bittrrt --version")' : ''} (see bittrrt ${command} --help)` };
        }
      }
      out.push(word);
      lastValueOf = undefined;
      continue;
    }
    operands.push(word);
    operandAfterValueOf ??= lastValueOf;
    if (operands.length > shape.operands.length) {
      return { error: tooMany(command, shape.operands, word, lastValueOf ?? operandAfterValueOf) };
    }
    out.push(word);
    lastValueOf = undefined;
  }
  return { argv: out };
}

/** Whether `word` names options of `shape`: `--name` (or `--name=…`) it defines, or `-abc` whose every letter is one. */
function isOption(shape: CommandShape, word: string): boolean {
  if (word.startsWith('--')) {
    const [name = word] = word.split('=', 1);
    return shape.options.has(name) || negatable(shape, name) !== undefined;
  }
  if (!word.startsWith('-') || word.length < 2) return false;
  return [...word.slice(1)].every((letter) => shape.options.has(`-${letter}`));
}

/** clipanion's Boolean options also take a `--no-` form. */
function negatable(shape: CommandShape, name: string): number | undefined {
  const positive = name.startsWith('--no-') ? `--${name.slice(5)}` : undefined;
  return positive !== undefined && shape.options.get(positive) === 0 ? 0 : undefined;
}

/** `valueOf`: the option a stray word probably belongs to, if one does. */
function tooMany(command: string, operands: readonly string[], word: string, valueOf: string | undefined): string {
  if (valueOf !== undefined) {
    return `unexpected argument "${word}": ${valueOf} takes one value, so several need several ${valueOf} `
      + `(as in ${valueOf} a.txt ${valueOf} b.txt; a shell pattern such as *.txt expands to several words)`;
  }
  const takes = operands.length === 0 ? 'takes no arguments' : `takes one ${operands.join(' ')}`;
  return `unexpected argument "${word}": bittrrt ${command} ${takes} (see bittrrt ${command} --help)`;
}

/** ` (did you mean "x"?)` for the closest of `candidates` to a typo, or nothing when none is close. */
function suggest(typo: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(typo.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const close = best !== undefined && (bestDistance <= Math.max(1, Math.floor(best.length / 3)) || best.startsWith(typo));
  return close ? ` (did you mean "${best}"?)` : '';
}

/** Levenshtein distance, a transposition counting as one edit (`pnig` is one from `ping`). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const above = d[i - 1] as number[];
      row[j] = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}
