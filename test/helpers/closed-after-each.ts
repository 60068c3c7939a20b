import type { BittrrtServer } from '../../lib/net/server.js';
import type { Session } from '../../lib/net/session.js';

/**
 * Lists for the servers and sessions a test opens; after each test (mocha's afterEach, registered
 * here, so call this inside a describe) every session is closed, then every server.
 */
export function closedAfterEach(): { servers: BittrrtServer[]; sessions: Session[] } {
  const servers: BittrrtServer[] = [];
  const sessions: Session[] = [];
  afterEach(async () => {
    for (const session of sessions.splice(0)) session.close();
    for (const server of servers.splice(0)) await server.close();
  });
  return { servers, sessions };
}
