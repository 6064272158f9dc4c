import { workerEnv } from '../../../api/names.ts';
import { loadUploadAbortConfig, loadWorkerConfig, WorkerConfigError } from '../../../worker/config.ts';

const base = {
  [workerEnv.role]: 'source',
  [workerEnv.jobNamespace]: 'team-a',
  [workerEnv.jobName]: 'copy',
  [workerEnv.jobUid]: 'uid-1',
  [workerEnv.podName]: 'copy-source-0-0',
  [workerEnv.port]: '8080',
  [workerEnv.natsUrl]: 'nats://nats:4222',
  [workerEnv.concurrency]: '4',
  [workerEnv.store]: JSON.stringify({ s3: { endpoint: 'http://s3:9000', bucket: 'in' } }),
  [workerEnv.token]: 't',
};

describe('the worker configuration', () => {
  it('signals progress on a task three times per task ack-wait', () => {
    expect(loadWorkerConfig({ ...base, [workerEnv.taskAckWaitMs]: '3000' }).workingIntervalMs).toBe(1_000);
  });

  it('assumes the operator default ack-wait (60 s) when none is set', () => {
    expect(loadWorkerConfig(base).workingIntervalMs).toBe(20_000);
  });

  it('refuses an ack-wait that is no positive integer, naming the variable', () => {
    expect(() => loadWorkerConfig({ ...base, [workerEnv.taskAckWaitMs]: '-1' })).toThrow(WorkerConfigError);
    expect(() => loadWorkerConfig({ ...base, [workerEnv.taskAckWaitMs]: '-1' })).toThrow(
      'FERRY_TASK_ACK_WAIT_MS must be a positive integer, got "-1"',
    );
  });

  it('reads the NATS TLS files and credentials the operator passes on', () => {
    expect(
      loadWorkerConfig({
        ...base,
        FERRY_NATS_TLS_CA: '/etc/ferry/nats/nats-ca.crt',
        FERRY_NATS_USER: 'ferry',
        FERRY_NATS_PASSWORD: 's3cret',
      }).natsAuth,
    ).toEqual({ tls: { caFile: '/etc/ferry/nats/nats-ca.crt' }, user: 'ferry', password: 's3cret' });
  });

  it.each([
    [{ FERRY_NATS_USER: 'ferry' }, 'FERRY_NATS_USER and FERRY_NATS_PASSWORD must be set together'],
    [{ FERRY_NATS_TLS_CERT: '/c', FERRY_NATS_TLS_KEY: '/k' }, 'FERRY_NATS_TLS_CA is required'],
    [
      { FERRY_NATS_CREDS_FILE: '/creds', FERRY_NATS_USER: 'u', FERRY_NATS_PASSWORD: 'p' },
      'FERRY_NATS_CREDS_FILE and FERRY_NATS_USER are alternatives',
    ],
  ])('refuses incomplete NATS access %j, naming the variables', (extra, message) => {
    expect(() => loadWorkerConfig({ ...base, ...extra })).toThrow(WorkerConfigError);
    expect(() => loadWorkerConfig({ ...base, ...extra })).toThrow(message);
  });

  it('reads an upload-abort run: the store and the uploads, refusing a list that is not one', () => {
    const store = JSON.stringify({ filesystem: { claimName: 'archive', mountPath: '/data/store' } });
    const uploads = [{ key: 'a b/%2F.bin', uploadId: 'u1' }];
    expect(
      loadUploadAbortConfig({ [workerEnv.store]: store, [workerEnv.abortUploads]: JSON.stringify(uploads) }),
    ).toEqual({ store: JSON.parse(store), uploads });
    expect(() =>
      loadUploadAbortConfig({ [workerEnv.store]: store, [workerEnv.abortUploads]: '[{"key":"a"}]' }),
    ).toThrow('FERRY_ABORT_UPLOADS must be a JSON array of {"key", "uploadId"}');
  });
});
