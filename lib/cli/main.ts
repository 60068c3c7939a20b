import { readFileSync } from 'node:fs';
import { Builtins, Cli, Command, UsageError } from 'clipanion';
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

export async function main(argv: string[]): Promise<void> {
  const cli = new BittrrtCli({
    binaryLabel: 'bittrrt', binaryName: 'bittrrt', binaryVersion: version,
    enableColors: Boolean(process.stdout.isTTY) && process.env.NO_COLOR === undefined,
  });
  cli.register(ServeCommand);
  cli.register(ConnectCommand);
  cli.register(ConfigInitCommand);
  cli.register(DemoCommand);
  cli.register(KeygenCommand);
  cli.register(KnownHostsListCommand);
  cli.register(KnownHostsRemoveCommand);
  cli.register(Builtins.HelpCommand);
  cli.register(VersionCommand);
  const checked = checkArgv(argv, commandShapes(cli.definitions()));
  if ('error' in checked) {
    process.stderr.write(`bittrrt: ${checked.error}\n`);
    process.exitCode = 1;
    return;
  }
  process.exitCode = await cli.run(checked.argv, Cli.defaultContext);
}
