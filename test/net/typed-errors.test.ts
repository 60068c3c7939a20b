import { expect } from 'chai';
import { AbortedError, ServerStateError, SocketError } from '../../lib/errors.js';
import { connect } from '../../lib/net/client.js';
import { createServer } from '../../lib/net/server.js';

describe('net: what the public API rejects with is typed', () => {
  it('listen twice is a ServerStateError; address() before listen too', async () => {
    const server = createServer();
    expect(() => server.address()).to.throw(ServerStateError).with.property('code', 'ERR_SERVER_STATE');
    await server.listen(0, '127.0.0.1');
    try {
      const err = await server.listen(0, '127.0.0.1').catch((e: unknown) => e);
      expect(err).to.be.instanceOf(ServerStateError);
    } finally {
      await server.close();
    }
  });

  it('a port in use is a SocketError carrying the OS code', async () => {
    const first = createServer();
    const { port } = await first.listen(0, '127.0.0.1');
    const second = createServer();
    try {
      const err = await second.listen(port, '127.0.0.1').catch((e: unknown) => e);
      expect(err).to.be.instanceOf(SocketError).with.property('code', 'ERR_SOCKET');
      expect((err as SocketError).osCode).to.equal('EADDRINUSE');
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('an aborted connect is an AbortedError', async () => {
    const err = await connect({ host: '127.0.0.1', port: 9, signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(AbortedError).with.property('code', 'ERR_ABORTED');
  });
});
