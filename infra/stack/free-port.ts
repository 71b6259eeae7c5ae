import { createServer } from 'node:net';

/**
 * A TCP port that is free on `host` right now: bind port 0, read the port, release it.
 * Another process may take it before the caller binds it; the window is small on loopback.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
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
