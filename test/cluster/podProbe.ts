// What a test runs inside a pod's network namespace (podNamespace.ts) to see
// the network as a pod sees it: name lookups go through the namespace's
// /etc/resolv.conf, as an application's getaddrinfo does. Run by Node as a
// script, `node podProbe.ts COMMAND ARGS...`; prints one JSON line.
//
//   resolve NAME                      addresses of NAME (IPv4), or the error code
//   get URL [CA_FILE]                 status and body of a GET (https: verified against CA_FILE)
//   connect HOST PORT                 whether a TCP connection opens, and how soon it failed
//   serve PORT TEXT                   an HTTP server answering TEXT (runs until killed)
import dns from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

type Result = Record<string, unknown>;

async function resolve(name: string): Promise<Result> {
  try {
    const found = await dns.lookup(name, { all: true, family: 4 });
    return { addresses: found.map((a) => a.address) };
  } catch (err) {
    return { error: (err as NodeJS.ErrnoException).code };
  }
}

function get(url: string, caFile?: string): Promise<Result> {
  const client = url.startsWith('https:') ? https : http;
  const tls = caFile ? { ca: readFileSync(caFile, 'utf8') } : {};
  return new Promise((done) => {
    const req = client.get(url, { ...tls, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => done({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }));
  });
}

function connect(host: string, port: number): Promise<Result> {
  const began = Date.now();
  return new Promise((done) => {
    const socket = net.connect({ host, port, timeout: 5_000 });
    socket.once('connect', () => {
      socket.destroy();
      done({ connected: true });
    });
    socket.once('timeout', () => {
      socket.destroy();
      done({ connected: false, error: 'ETIMEDOUT', ms: Date.now() - began });
    });
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done({ connected: false, error: err.code, ms: Date.now() - began }),
    );
  });
}

function serve(port: number, text: string): void {
  http.createServer((_req, res) => res.end(text)).listen(port, '0.0.0.0');
}

const [command, ...args] = process.argv.slice(2);
const print = (result: Result) => console.log(JSON.stringify(result));
switch (command) {
  case 'resolve':
    print(await resolve(args[0]!));
    break;
  case 'get':
    print(await get(args[0]!, args[1]));
    break;
  case 'connect':
    print(await connect(args[0]!, Number(args[1])));
    break;
  case 'serve':
    serve(Number(args[0]), args[1] ?? 'ok');
    break;
  default:
    console.error(`podProbe: unknown command '${command}' (expected resolve, get, connect or serve)`);
    process.exit(2);
}
