import { ConfigError, loadOperatorConfig } from '../../../operator/config.ts';

const base = {
  FERRY_WORKER_IMAGE: 'ferry:1',
  FERRY_NATS_URL: 'nats://nats:4222',
  FERRY_ETCD_ENDPOINTS: 'http://etcd-0:2379, http://etcd-1:2379',
};

describe('the operator configuration', () => {
  it('reads a minimal environment with defaults', () => {
    const config = loadOperatorConfig(base);
    expect(config).toMatchObject({
      namespace: 'ferry-system',
      etcdEndpoints: ['http://etcd-0:2379', 'http://etcd-1:2379'],
      probeHost: '0.0.0.0',
      probePort: 8081,
      leaseDurationMs: 15_000,
      taskAckWaitMs: 60_000,
      taskMaxDeliver: 5,
      natsAuth: {},
      natsFilesRecheckMs: 30_000,
      planAheadTasks: 1_000,
      etcdAuth: {},
    });
  });

  it('reads TLS and credentials for NATS and etcd', () => {
    const config = loadOperatorConfig({
      ...base,
      FERRY_NATS_TLS_CA: '/tls/ca.crt',
      FERRY_NATS_TLS_CERT: '/tls/tls.crt',
      FERRY_NATS_TLS_KEY: '/tls/tls.key',
      FERRY_NATS_USER: 'ferry',
      FERRY_NATS_PASSWORD: 's3cret',
      FERRY_ETCD_TLS_CA: '/etcd/ca.crt',
      FERRY_ETCD_USERNAME: 'root',
      FERRY_ETCD_PASSWORD: 'pw',
    });
    expect(config.natsAuth).toEqual({
      tls: { caFile: '/tls/ca.crt', certFile: '/tls/tls.crt', keyFile: '/tls/tls.key' },
      user: 'ferry',
      password: 's3cret',
    });
    expect(config.etcdAuth).toEqual({ tls: { caFile: '/etcd/ca.crt' }, username: 'root', password: 'pw' });
  });

  it('reads the task ack-wait and max-deliver', () => {
    const config = loadOperatorConfig({
      ...base,
      FERRY_TASK_ACK_WAIT_MS: '5000',
      FERRY_TASK_MAX_DELIVER: '20',
    });
    expect(config).toMatchObject({ taskAckWaitMs: 5_000, taskMaxDeliver: 20 });
  });

  it('reads how often the NATS files are re-read', () => {
    expect(loadOperatorConfig({ ...base, FERRY_NATS_FILES_RECHECK_MS: '5000' }).natsFilesRecheckMs).toBe(
      5_000,
    );
    expect(() => loadOperatorConfig({ ...base, FERRY_NATS_FILES_RECHECK_MS: '1m' })).toThrow(
      'FERRY_NATS_FILES_RECHECK_MS must be a positive integer, got "1m"',
    );
  });

  it("reads the worker pods' image pull policy", () => {
    expect(loadOperatorConfig(base).workerImagePullPolicy).toBeUndefined();
    expect(
      loadOperatorConfig({ ...base, FERRY_WORKER_IMAGE_PULL_POLICY: 'Never' }).workerImagePullPolicy,
    ).toBe('Never');
  });

  const invalid: Record<string, [Record<string, string>, string]> = {
    'an unknown worker image pull policy': [
      { ...base, FERRY_WORKER_IMAGE_PULL_POLICY: 'Sometimes' },
      'FERRY_WORKER_IMAGE_PULL_POLICY must be one of Always, IfNotPresent, Never, got "Sometimes"',
    ],
    'no worker image': [{ ...base, FERRY_WORKER_IMAGE: '' }, 'FERRY_WORKER_IMAGE is required'],
    'a NATS URL with the wrong scheme': [
      { ...base, FERRY_NATS_URL: 'http://nats:4222' },
      'FERRY_NATS_URL must use nats: or tls:',
    ],
    'an etcd endpoint that is no URL': [
      { ...base, FERRY_ETCD_ENDPOINTS: 'etcd-0' },
      'FERRY_ETCD_ENDPOINTS is not a URL: "etcd-0"',
    ],
    'a probe address without port': [
      { ...base, FERRY_PROBE_ADDRESS: 'localhost' },
      'FERRY_PROBE_ADDRESS must be host:port',
    ],
    'an unknown worker log level': [
      { ...base, FERRY_WORKER_LOG_LEVEL: 'verbose' },
      'FERRY_WORKER_LOG_LEVEL must be one of error, warn, info, debug, got "verbose"',
    ],
    'a concurrency of zero': [
      { ...base, FERRY_RECONCILE_CONCURRENCY: '0' },
      'FERRY_RECONCILE_CONCURRENCY must be a positive integer, got "0"',
    ],
    'a task ack-wait below a second': [
      { ...base, FERRY_TASK_ACK_WAIT_MS: '500' },
      'FERRY_TASK_ACK_WAIT_MS must be at least 1000 (milliseconds), got "500"',
    ],
    'a task ack-wait that is no number': [
      { ...base, FERRY_TASK_ACK_WAIT_MS: '30s' },
      'FERRY_TASK_ACK_WAIT_MS must be a positive integer, got "30s"',
    ],
    'a max-deliver of zero': [
      { ...base, FERRY_TASK_MAX_DELIVER: '0' },
      'FERRY_TASK_MAX_DELIVER must be a positive integer, got "0"',
    ],
    'a client certificate without its key': [
      { ...base, FERRY_NATS_TLS_CA: '/ca', FERRY_NATS_TLS_CERT: '/crt' },
      'FERRY_NATS_TLS_CERT and FERRY_NATS_TLS_KEY must be set together',
    ],
    'a client certificate without a CA': [
      { ...base, FERRY_ETCD_TLS_CERT: '/crt', FERRY_ETCD_TLS_KEY: '/key' },
      'FERRY_ETCD_TLS_CA is required',
    ],
    'a user without a password': [
      { ...base, FERRY_ETCD_USERNAME: 'root' },
      'FERRY_ETCD_USERNAME and FERRY_ETCD_PASSWORD must be set together',
    ],
    'both a creds file and a user for NATS': [
      { ...base, FERRY_NATS_CREDS_FILE: '/creds', FERRY_NATS_USER: 'u', FERRY_NATS_PASSWORD: 'p' },
      'FERRY_NATS_CREDS_FILE and FERRY_NATS_USER are alternatives',
    ],
    'a renew deadline not shorter than the lease': [
      { ...base, FERRY_RENEW_DEADLINE_MS: '15000' },
      'FERRY_RENEW_DEADLINE_MS must be shorter',
    ],
  };
  for (const [name, [env, message]] of Object.entries(invalid)) {
    it(`refuses ${name}, naming the variable`, () => {
      expect(() => loadOperatorConfig(env)).toThrow(ConfigError);
      expect(() => loadOperatorConfig(env)).toThrow(message);
    });
  }
});
