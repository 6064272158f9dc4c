import { Etcd3 } from 'etcd3';
import { bedEndpoints } from '../../support/bed.ts';

describe('the local ledger etcd', () => {
  let client: Etcd3;
  const prefix = `/ferry-smoke/${Date.now()}/`;

  beforeAll(() => {
    client = new Etcd3({ hosts: bedEndpoints().ledgerEtcdUrl });
  });

  afterAll(async () => {
    await client.delete().prefix(prefix);
    client.close();
  });

  it('applies a transaction only when its comparison holds (compare-and-set)', async () => {
    const key = `${prefix}task-1`;
    const create = await client.if(key, 'Version', '==', 0).then(client.put(key).value('PENDING')).commit();
    expect(create.succeeded).toBe(true);

    const createAgain = await client
      .if(key, 'Version', '==', 0)
      .then(client.put(key).value('OVERWRITTEN'))
      .commit();
    expect(createAgain.succeeded).toBe(false);

    const advance = await client
      .if(key, 'Value', '==', 'PENDING')
      .then(client.put(key).value('SUCCEEDED'))
      .commit();
    expect(advance.succeeded).toBe(true);
    expect(await client.get(key).string()).toBe('SUCCEEDED');
  });

  it('lists keys by prefix', async () => {
    await client.put(`${prefix}task-2`).value('PENDING');
    expect(Object.keys(await client.getAll().prefix(prefix).strings()).sort()).toEqual([
      `${prefix}task-1`,
      `${prefix}task-2`,
    ]);
  });
});
