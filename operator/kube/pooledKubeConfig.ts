// A KubeConfig whose API requests share their connections to the
// kube-apiserver: client-node builds a new undici Agent (a new TLS handshake)
// for every request; this keeps the first dispatcher made for a TLS identity
// and hands it to every later request with that identity, and retires it
// gracefully when the identity changes (a rotated certificate). Requests on a
// kept connection time out on their headers after 60 s, so a connection that
// went silent fails fast. See ADRs 0013 and 0021.
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
  /** The identity of the options the library has just built a dispatcher from. */
  private lastBuilt: string | undefined;

  constructor(options: PooledKubeConfigOptions = {}) {
    super();
    this.headersTimeoutMs = options.headersTimeoutMs ?? 60_000;
  }

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
