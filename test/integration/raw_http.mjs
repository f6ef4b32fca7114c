// Raw HTTP on a plain socket, for requests no HTTP client library would send: oversized trailers,
// endless chunk extensions, half-sent headers, clients that never read.
import net from 'node:net';
import { once } from 'node:events';

/** Splits a raw HTTP response into { status, head, body } (status 0 when nothing came). */
export function parseResponse(buf) {
  const text = buf.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = end >= 0 ? text.slice(0, end) : text;
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  const body = end >= 0 ? buf.subarray(end + 4).toString('utf8') : '';
  let json;
  try { json = JSON.parse(body); } catch { json = undefined; }
  return { status: m ? Number(m[1]) : 0, head, body, json };
}

/**
 * Opens a connection to 127.0.0.1:port, writes `parts` (strings or Buffers, in order, waiting
 * for drain), and collects what comes back until the server closes or `ms` pass. Write errors
 * (the server closing early) end the writing, not the test. Resolves to
 * { ...parseResponse(), closed, bytes, ms }.
 */
export function rawExchange(port, parts, { ms = 5000 } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    let closed = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const buf = Buffer.concat(chunks);
      resolve({ ...parseResponse(buf), closed, bytes: buf.length, ms: Date.now() - t0 });
    };
    const timer = setTimeout(finish, ms);
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', () => {});
    sock.on('close', () => { closed = true; finish(); });
    sock.on('connect', async () => {
      for (const p of parts) {
        if (sock.destroyed || sock.writableEnded) return;
        if (!sock.write(p)) {
          const drained = await Promise.race([once(sock, 'drain').then(() => true, () => false),
            once(sock, 'close').then(() => false, () => false)]);
          if (!drained) return;
        }
      }
    });
  });
}

/** A socket that is connected and idle; resolves once connected. */
export async function idleSocket(port) {
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  await once(sock, 'connect');
  return sock;
}

/** The gateway process's resident set size in bytes (Linux /proc). */
export async function rssOf(pid) {
  const { readFileSync } = await import('node:fs');
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}
