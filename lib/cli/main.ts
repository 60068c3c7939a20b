import { readFileSync } from 'node:fs';
import { type BaseContext, Builtins, Cli, Command, type CommandClass, UsageError } from 'clipanion';
import { BittrrtError } from '../errors.js';
import { packagePath } from '../package-root.js';
import { checkArgv, commandShapes } from './argv.js';
import { ConfigInitCommand } from './config-init.js';
import { ConnectCommand } from './connect.js';
import { DemoCommand } from './demo.js';
import { withSentences } from './errors.js';
import { KeygenCommand } from './keygen.js';
import { KnownHostsListCommand, KnownHostsRemoveCommand } from './known-hosts.js';
import { withPlaceholders } from './placeholders.js';
import { ServeCommand } from './serve.js';

const { version } = JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string };

/**
 * User mistakes (usage errors, our typed errors) become one line on stderr, system error codes
 * in words; anything else is a bug and keeps its stack.
 */
class BittrrtCli extends Cli {
  override error(error: unknown): string {
    const isUserError = error instanceof UsageError || error instanceof BittrrtError
      || (error instanceof Error && error.name === 'UnknownSyntaxError');
    const text = isUserError
      ? `bittrrt: ${withSentences((error as Error).message.split('\n')[0] as string)}${error instanceof BittrrtError ? '' : ' (see --help)'}\n`
      : `bittrrt: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`;
    process.stderr.write(text);
    return '';
  }

  /** Option values named for what they are (`--send FILE`), where clipanion writes `#0`. */
  protected override getUsageByIndex(n: number, opts?: { detailed?: boolean; inlineOptions?: boolean }): ReturnType<Cli['getUsageByIndex']> {
    const { usage, options } = super.getUsageByIndex(n, opts);
    return {
      usage: withPlaceholders(usage),
      options: options.map((option) => ({ ...option, definition: withPlaceholders(option.definition) })),
    };
  }
}

/** `-V` / `--version` (and `bittrrt version`): `-v` is --verbose under every command. */
class VersionCommand extends Command {
  static override paths = [['-V'], ['--version']];
  override async execute(): Promise<number> {
    this.context.stdout.write(`${version}\n`);
    return 0;
  }
}

/** The commands, in the order `--help` lists them. */
const COMMANDS: ReadonlyArray<CommandClass<BaseContext>> = [
  ServeCommand, ConnectCommand, ConfigInitCommand, DemoCommand, KeygenCommand, KnownHostsListCommand, KnownHostsRemoveCommand,
];

/**
 * The commands a run registers. Clipanion compiles one state machine over every registered command
 * on each run, which for all of them took about a fifth of `connect`'s start on loopback. So when
 * the first word names a command, only the commands under that word are registered (its `-h` still
 * works: clipanion answers it for any registered command); anything else (`--help`, a typo that
 * deserves a suggestion) gets them all.
 */
function commandsFor(argv: readonly string[]): ReadonlyArray<CommandClass<BaseContext>> {
  const named = COMMANDS.filter((command) => command.paths?.some((path) => path[0] === argv[0]));
  return named.length > 0 ? named : [...COMMANDS, Builtins.HelpCommand, VersionCommand];
}

export async function main(argv: string[]): Promise<void> {
  const cli = new BittrrtCli({
    binaryLabel: 'bittrrt', binaryName: 'bittrrt', binaryVersion: version,
    enableColors: Boolean(process.stdout.isTTY) && process.env.NO_COLOR === undefined,
  });
  for (const command of commandsFor(argv)) cli.register(command);
  const checked = checkArgv(argv, commandShapes(cli.definitions()));
  if ('error' in checked) {
    process.stderr.write(`bittrrt: ${checked.error}\n`);
    process.exitCode = 1;
    return;
  }
  process.exitCode = await cli.run(checked.argv, Cli.defaultContext);
}
