// What a deleted job leaves outside Kubernetes: the finalizer's last step
// (ExternalJobState.remove) against the bed's real etcd and JetStream.
import { ExternalJobState } from '../../../operator/external/jobState.ts';
import { consumerPrefix, ledgerPrefix, streams } from '../../../api/names.ts';
import { statusSubject, tasksSubject } from '../../../api/tasks.ts';
import { connectEngineClients, type EngineClients } from '../../support/engineClients.ts';

let clients: EngineClients;
beforeAll(async () => {
  clients = await connectEngineClients();
});
afterAll(async () => {
  await clients?.close();
});

describe("removing a deleted job's state outside Kubernetes", () => {
  it('removes its ledger, its consumers and the messages left on its subjects, and nothing of another job', async () => {
    const { etcd, js, jsm } = clients;
    const state = new ExternalJobState(etcd, async () => jsm);
    const deleted = `deleted-${Date.now()}`;
    const other = `other-${Date.now()}`;
    for (const uid of [deleted, other]) {
      await state.ensure(uid);
      await etcd.put(`${ledgerPrefix(uid)}tasks/t0000000001`).value('{"state":"DISPATCHED"}');
      // Messages no worker took, e.g. tasks of an earlier epoch.
      await js.publish(tasksSubject(uid), '{}');
      await js.publish(statusSubject(uid), '{}');
    }
    const held = async (stream: string, subject: string) =>
      (await jsm.streams.info(stream, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    const consumersOf = async (uid: string) =>
      [
        ...(await jsm.consumers.list(streams.tasks).next()),
        ...(await jsm.consumers.list(streams.status).next()),
      ]
        .map((c) => c.name)
        .filter((n) => n.startsWith(consumerPrefix(uid)));

    await state.remove(deleted);
    await state.remove(deleted); // idempotent

    expect(await etcd.getAll().prefix(ledgerPrefix(deleted)).keys()).toEqual([]);
    expect(await consumersOf(deleted)).toEqual([]);
    expect(await held(streams.tasks, tasksSubject(deleted))).toBe(0);
    expect(await held(streams.status, statusSubject(deleted))).toBe(0);

    expect(await etcd.getAll().prefix(ledgerPrefix(other)).keys()).toHaveLength(1);
    expect(await consumersOf(other)).toHaveLength(2);
    expect(await held(streams.tasks, tasksSubject(other))).toBe(1);
    expect(await held(streams.status, statusSubject(other))).toBe(1);
    await state.remove(other);
  });
});
