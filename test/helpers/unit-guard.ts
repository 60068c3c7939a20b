/**
 * Loaded by `npm run test:unit` only: a unit test opens no socket. Any dgram socket fails the
 * test that asks for it, so a socket test added to the unit list is caught at once.
 */
import dgram from 'node:dgram';
import { syncBuiltinESMExports } from 'node:module';

dgram.createSocket = (() => {
  throw new Error('a unit test opened a UDP socket: take its file out of .mocharc.unit.json (npm test still runs it)');
}) as typeof dgram.createSocket;
syncBuiltinESMExports();
