import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

describe('README library example (examples/echo.mjs)', function () {
  this.timeout(20_000);

  it('runs and prints the echo and a round-trip time', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['examples/echo.mjs'], { timeout: 15_000 });
    expect(stdout).to.match(/^connected with protocol version 2\necho: hello over bittrrt\nround trip: \d+\.\d{3} ms\n$/);
  });
});
