import { readFileSync } from 'node:fs';
import { Builtins, Cli, UsageError } from 'clipanion';
import { BittrrtError } from '../errors.js';
import { ConfigInitCommand } from './config-init.js';
import { ConnectCommand } from './connect.js';
import { DemoCommand } from './demo.js';
import { KeygenCommand } from './keygen.js';
import { ServeCommand } from './serve.js';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

/**
 * User mistakes (usage errors, our typed errors) become one line on stderr; anything else is a bug
 * and keeps its stack.
 */
class BittrrtCli extends Cli {
  override error(error: unknown): string {
    const isUserError = error instanceof UsageError || error instanceof BittrrtError
      || (error instanceof Error && error.name === 'UnknownSyntaxError');
    const text = isUserError
      ? `bittrrt: ${(error as Error).message.split('\n')[0]}${error instanceof BittrrtError ? '' : ' (see --help)'}\n`
      : `bittrrt: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`;
    process.stderr.write(text);
    return '';
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
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  process.exitCode = await cli.run(argv, Cli.defaultContext);
}
