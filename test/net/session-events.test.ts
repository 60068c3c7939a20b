import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { connect } from '../../lib/net/client.js';
import { createServer } from '../../lib/net/server.js';
import type { Session } from '../../lib/net/session.js';
import { eventually } from '../helpers/udp.js';

describe('Session events (the listener table is made on first use)', () => {
  it('a fresh session is a working EventEmitter: on, once, off, listenerCount, eventNames, removeAllListeners', async () => {
    const server = createServer({ handshakeThreads: 0 });
    const { port } = await server.listen(0, '127.0.0.1');
    let client: Session | undefined;
    try {
      client = await connect({ host: '127.0.0.1', port });
      expect(await eventually(() => server.sessionCount === 1, 2000)).to.equal(true);
      const [session] = [...server.sessions()];
      expect(session).to.be.instanceOf(EventEmitter);
      expect(session!.listenerCount('message')).to.equal(0);
      expect(session!.eventNames()).to.deep.equal([]);
      expect(session!.emit('rekey'), 'emit with no listener').to.equal(false);

      const seen: string[] = [];
      const onMessage = (payload: Buffer): void => {
        seen.push(`on:${payload.toString()}`);
      };
      session!.on('message', onMessage);
      session!.once('message', (payload) => seen.push(`once:${payload.toString()}`));
      expect(session!.listenerCount('message')).to.equal(2);
      expect(session!.eventNames()).to.deep.equal(['message']);

      client.send(Buffer.from('a'));
      expect(await eventually(() => seen.length === 2, 2000)).to.equal(true);
      expect(session!.listenerCount('message'), 'once removed itself').to.equal(1);
      session!.off('message', onMessage);
      expect(session!.listenerCount('message')).to.equal(0);
      session!.on('rtt', () => undefined);
      session!.removeAllListeners();
      expect(session!.eventNames()).to.deep.equal([]);
      client.send(Buffer.from('b'));
      await client.ping(2000);
      expect(seen).to.deep.equal(['on:a', 'once:a']);
    } finally {
      client?.close();
      await server.close();
    }
  });
});
