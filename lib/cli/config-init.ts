import { Command, Option } from 'clipanion';
import { defaultConfigPath, writeDefaultConfig } from '../config.js';

export class ConfigInitCommand extends Command {
  static override paths = [['config', 'init']];
  static override usage = Command.Usage({
    description: 'write a commented config file with every default',
    details: 'Writes ~/.bittrrt/config (or --config PATH / $BITTRRT_CONFIG) with mode 0600. Refuses to overwrite without --force.',
    examples: [['Create the default config', '$0 config init'], ['Write it elsewhere', '$0 config init --config ./bittrrt.conf']],
  });

  configPath = Option.String('--config', { description: 'where to write (default: $BITTRRT_CONFIG, else ~/.bittrrt/config)' });
  force = Option.Boolean('--force', false, { description: 'overwrite an existing file' });

  override async execute(): Promise<number> {
    const path = this.configPath ?? (process.env.BITTRRT_CONFIG || defaultConfigPath());
    writeDefaultConfig(path, this.force);
    this.context.stdout.write(`wrote ${path}\n`);
    return 0;
  }
}
