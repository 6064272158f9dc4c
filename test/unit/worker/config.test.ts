import { workerEnv } from '../../../api/names.ts';
import { loadWorkerConfig, WorkerConfigError } from '../../../worker/config.ts';

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
});
