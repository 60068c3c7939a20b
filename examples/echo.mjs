// A bittrrt server and client in one Node program: run with `node examples/echo.mjs`
// (after `npm install`). Inside your own project, import from 'bittrrt' the same way.
import { connect, createServer } from 'bittrrt';

const server = createServer();
server.on('session', (session) => {
  // Echo every message back on the channel it came from.
  session.on('message', (payload, channel) => session.send(payload, channel));
});
const { port } = await server.listen(0, '127.0.0.1');

const session = await connect({ host: '127.0.0.1', port });
console.log(`connected with protocol version ${session.version}`);

const reply = new Promise((resolve) => session.once('message', resolve));
session.send(Buffer.from('hello over bittrrt'));
console.log(`echo: ${(await reply).toString()}`);

console.log(`round trip: ${(await session.ping()).toFixed(3)} ms`);

session.close();
await server.close();
