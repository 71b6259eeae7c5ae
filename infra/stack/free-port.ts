import { createServer } from 'node:net';

/** Ports this process has handed out: the kernel may give a released port to the next bind of port 0. */
const handedOut = new Set<number>();

/** Binds port 0 on `host`, reads the port the kernel chose and releases it. */
function bindAnyPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error(`no free port on ${host}`))));
    });
  });
}

/**
 * A TCP port that is free on `host` right now and that this process has not handed out before:
 * bind port 0, read the port, release it. Components started at the same time (the stack starts
 * its servers in parallel) therefore never get the same port, which the kernel would otherwise
 * happily give twice once the first caller released it. Another process may still take it before
 * the caller binds it; the window is small on loopback.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await bindAnyPort(host);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port on ${host} that this process has not handed out already (50 tries)`);
}

/** Checks that `host:port` can be bound now; throws an error naming both when it cannot. */
export function assertBindable(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`cannot bind ${host}:${port}: ${err.code ?? err.message}`)),
    );
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}
