// A KubeConfig whose API requests share their connections to the kube-apiserver.
//
// @kubernetes/client-node 2.x builds a new undici Agent for every request it
// authenticates (KubeConfig.applySecurityAuthentication), so every request to a
// TLS kube-apiserver — every status patch, lease renewal, pod create, watch
// restart — opens a fresh TCP connection and pays a full TLS handshake on both
// ends. Measured on the bed: 50 sequential GETs made 50 TLS connections and cost
// the client 4.8 ms CPU each (ADR 0013).
//
// The fix keeps the library's own authentication and dispatcher settings and
// only changes their lifetime: the first dispatcher made for a given TLS identity
// (the exact options the library built it from: server, CA, client certificate
// and key — from files, inline data or an exec plugin — and verification
// settings) is kept and handed to every later request with the same identity. A
// fresh dispatcher that is not kept has not connected yet (undici connects on
// first dispatch), so dropping it costs nothing. When the identity changes — a
// rotated client certificate or CA — the new dispatcher is kept instead, and the
// old one is closed a minute later, gracefully: requests that picked it up just
// before, and watches running on it, finish there.
//
// A kept connection can go silent (a NAT or load balancer that drops it
// without a reset). Every request on it therefore gets a headers timeout of
// 60 s, the kube-apiserver's own request timeout: a request the server serves
// answers within it (a watch answers its headers at once), and one on a dead
// connection fails then, instead of after undici's 300 s, and the next request
// opens a new connection. Leader election does not use this client at all
// (operator/main.ts): a lease round must fail within its renew deadline.
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';

type RequestContext = Parameters<k8s.KubeConfig['applySecurityAuthentication']>[0];
type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

export interface PooledKubeConfigOptions {
  /** How long a request waits for the response headers on a kept connection (default 60 s). */
  headersTimeoutMs?: number;
}

export class PooledKubeConfig extends k8s.KubeConfig {
  private kept: { identity: string; dispatcher: Dispatcher } | undefined;
  private readonly headersTimeoutMs: number;

  constructor(options: PooledKubeConfigOptions = {}) {
    super();
    this.headersTimeoutMs = options.headersTimeoutMs ?? 60_000;
  }
  /** The identity of the options the library has just built a dispatcher from (see below). */
  private lastBuilt: string | undefined;

  override createDispatcherOptions(
    ...args: Parameters<k8s.KubeConfig['createDispatcherOptions']>
  ): ReturnType<k8s.KubeConfig['createDispatcherOptions']> {
    const options = super.createDispatcherOptions(...args);
    this.lastBuilt = identityOf(args[0]?.server, options);
    return options;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    // The library builds the dispatcher options and hands the dispatcher to the context in one
    // synchronous step, so the identity read here is the one of this request's dispatcher.
    let identity: string | undefined;
    const setDispatcher = context.setDispatcher.bind(context);
    context.setDispatcher = (dispatcher) => {
      identity = this.lastBuilt;
      setDispatcher(dispatcher);
    };
    try {
      await super.applySecurityAuthentication(context);
    } finally {
      context.setDispatcher = setDispatcher;
    }
    const made = context.getDispatcher();
    // No dispatcher of its own (plain HTTP without client TLS): undici's global one pools already.
    if (made === undefined || identity === undefined) return;
    if (this.kept?.identity === identity) {
      context.setDispatcher(this.kept.dispatcher);
      return;
    }
    const retired = this.kept?.dispatcher;
    const headersTimeout = this.headersTimeoutMs;
    const dispatcher = made.compose(
      (dispatch) => (options, handler) => dispatch({ headersTimeout, ...options }, handler),
    );
    this.kept = { identity, dispatcher };
    context.setDispatcher(dispatcher);
    // Errors there belong to the requests still running on it.
    if (retired) setTimeout(() => void retired.close().catch(() => {}), retireAfterMs).unref();
  }

  /** Releases the kept connections (for a clean shutdown). */
  async closeConnections(): Promise<void> {
    const kept = this.kept;
    this.kept = undefined;
    await kept?.dispatcher.close();
  }
}

/** How long a replaced dispatcher stays open for requests that picked it up before. */
const retireAfterMs = 60_000;

/** A digest of the server and the options a dispatcher is built from (certificates and keys included). */
function identityOf(server: string | undefined, options: unknown): string {
  const digest = createHash('sha256').update(String(server));
  const add = (value: unknown): void => {
    if (Buffer.isBuffer(value)) digest.update(`b${value.length}:`).update(value);
    else if (Array.isArray(value)) {
      digest.update(`a${value.length}:`);
      value.forEach(add);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, field] of Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1))) {
        digest.update(`k${key}:`);
        add(field);
      }
    } else digest.update(`v${String(value)}:`);
  };
  add(options);
  return digest.digest('hex');
}
