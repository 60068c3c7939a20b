import { expect } from 'chai';
import { checkArgv, commandShapes } from '../lib/cli/argv.js';

const shapes = commandShapes([
  { path: 'bittrrt connect', usage: 'bittrrt connect [host[:port]]', options: [{ definition: '--send FILE' }, { definition: '--ping N' }, { definition: '--server-key KEY' }, { definition: '--persist' }, { definition: '-q,--quiet' }, { definition: '-v,--verbose' }] },
  { path: 'bittrrt config init', usage: 'bittrrt config init', options: [{ definition: '--force' }] },
]);

describe('command line check (lib/cli/argv.ts)', () => {
  it('passes what the commands define, binding each value to its option', () => {
    expect(checkArgv(['connect', 'h', '--send', 'a', '-qv'], shapes)).to.deep.equal({ argv: ['connect', 'h', '--send=a', '-qv'] });
    expect(checkArgv(['connect', '--send', '-'], shapes), '- is standard input').to.deep.equal({ argv: ['connect', '--send=-'] });
    expect(checkArgv(['connect', '--ping', '-1'], shapes), 'a negative number reaches the value check').to.deep.equal({ argv: ['connect', '--ping=-1'] });
    expect(checkArgv(['connect', '--no-persist'], shapes), 'a Boolean option\'s --no- form').to.deep.equal({ argv: ['connect', '--no-persist'] });
    expect(checkArgv(['config', 'init', '--force'], shapes)).to.deep.equal({ argv: ['config', 'init', '--force'] });
    expect(checkArgv(['help', 'connect'], shapes)).to.deep.equal({ argv: ['connect', '--help'] });
    expect(checkArgv(['version'], shapes)).to.deep.equal({ argv: ['--version'] });
    expect(checkArgv([], shapes)).to.deep.equal({ argv: [] });
  });

  it('names what it does not know, with the closest match when one is close', () => {
    expect(checkArgv(['connect', '--pnig', '1'], shapes)).to.have.property('error').that.match(/^unknown option --pnig for connect \(did you mean "--ping"\?\)/);
    expect(checkArgv(['connect', '--frobnicate'], shapes)).to.have.property('error').that.match(/^unknown option --frobnicate for connect \(see/);
    expect(checkArgv(['connect', '-x'], shapes)).to.have.property('error').that.match(/^unknown option -x for connect/);
    expect(checkArgv(['conect'], shapes)).to.have.property('error').that.match(/^unknown command "conect" \(did you mean "connect"\?\)/);
    expect(checkArgv(['teleport'], shapes)).to.have.property('error').that.match(/^unknown command "teleport" \(commands: connect, config\)$/);
    expect(checkArgv(['config', 'int'], shapes)).to.have.property('error').that.match(/did you mean "init"/);
    expect(checkArgv(['connect', 'a', 'b'], shapes)).to.have.property('error').that.match(/^unexpected argument "b"/);
    const several = /^unexpected argument "(\S+)": --send takes one value, so several need several --send/;
    expect(checkArgv(['connect', 'h', '--send', 'a', 'b'], shapes)).to.have.property('error').that.match(several);
    expect(checkArgv(['connect', '--send', 'a', 'b', 'h'], shapes), 'the pattern came before the host').to.have.property('error').that.match(several);
    expect(checkArgv(['connect', '--send'], shapes)).to.have.property('error', '--send needs a value: --send FILE (see bittrrt connect --help)');
  });
  it('a value that starts with - is a value unless it names an option of the command (a base64url key can start with -)', () => {
    const key = '-Pj4-Pj4-Pj4-Pj4-Pj4-Pj4-Pj4-Pj4-Pj4-Pj4-Pg=';
    expect(checkArgv(['connect', 'host', '--server-key', key], shapes)).to.deep.equal({ argv: ['connect', 'host', `--server-key=${key}`] });
    expect(checkArgv(['connect', '--ping', '-q'], shapes)).to.have.property('error').that.matches(/^--ping needs a value: --ping N \(-q is an option\)/);
    expect(checkArgv(['connect', '--send', '--ping'], shapes)).to.have.property('error').that.matches(/^--send needs a value/);
  });
});
