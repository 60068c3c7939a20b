import { expect } from 'chai';
import { EventEmitter, once } from 'node:events';
import { connect } from '../../lib/net/client.js';
import { createServer } from '../../lib/net/server.js';
import type { Session } from '../../lib/net/session.js';
import { eventually } from '../helpers/udp.js';

describe('Session events (the listener table is made on first use)', () => {
  it('a fresh session is a working EventEmitter: on, once, prependListener, off, events.once, an unheard error, removeAllListeners', async () => {
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
      expect(() => (session as unknown as EventEmitter).emit('error', new Error('unheard')), 'an unheard error throws, as on any emitter')
        .to.throw('unheard');

      const seen: string[] = [];
      const onMessage = (payload: Buffer): void => {
        seen.push(`on:${payload.toString()}`);
      };
      session!.on('message', onMessage);
      session!.once('message', (payload) => seen.push(`once:${payload.toString()}`));
      session!.prependListener('message', (payload) => seen.push(`first:${payload.toString()}`));
      const awaited = once(session!, 'message');
      expect(session!.listenerCount('message')).to.equal(4);
      expect(session!.eventNames(), 'events.once listens for errors too').to.deep.equal(['message', 'error']);

      client.send(Buffer.from('a'));
      const [payload] = (await awaited) as [Buffer];
      expect(payload.toString()).to.equal('a');
      expect(await eventually(() => seen.length === 3, 2000)).to.equal(true);
      expect(session!.listenerCount('message'), 'the once listeners removed themselves').to.equal(2);
      session!.removeAllListeners('message');
      expect(session!.listenerCount('message')).to.equal(0);
      session!.on('message', onMessage);
      session!.off('message', onMessage);
      expect(session!.listenerCount('message')).to.equal(0);
      session!.on('rtt', () => undefined);
      session!.removeAllListeners();
      expect(session!.eventNames()).to.deep.equal([]);
      client.send(Buffer.from('b'));
      await client.ping(10_000);
      expect(seen).to.deep.equal(['first:a', 'on:a', 'once:a']);
    } finally {
      client?.close();
      await server.close();
    }
  });
});
