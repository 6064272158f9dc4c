// Start and stop the local control plane by hand.
//
//   node test/bed/cli.ts up     start it in .bed/ and keep it running until Ctrl-C
//   node test/bed/cli.ts down   stop the bed that `up` started
//   node test/bed/cli.ts env    print shell exports for the running bed
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LocalControlPlane, type BedEndpoints } from './controlPlane.ts';
import { repoRoot } from './tools.ts';

const bedDir = path.join(repoRoot, '.bed');
const ownerFile = path.join(repoRoot, '.bed.pid');

function shellExports(e: BedEndpoints): string {
  return [
    `export KUBECONFIG=${e.kubeconfig}`,
    `export FERRY_NATS_URL=${e.natsUrl}`,
    `export FERRY_ETCD_ENDPOINTS=${e.ledgerEtcdUrl}`,
    `export AWS_ENDPOINT_URL=${e.s3.endpoint}`,
    `export AWS_REGION=${e.s3.region}`,
    `export AWS_ACCESS_KEY_ID=${e.s3.credentials.accessKeyId}`,
    `export AWS_SECRET_ACCESS_KEY=${e.s3.credentials.secretAccessKey}`,
  ].join('\n');
}

async function up(): Promise<void> {
  if (existsSync(ownerFile)) {
    const pid = Number(readFileSync(ownerFile, 'utf8'));
    if (isAlive(pid)) throw new Error(`a bed is already running (pid ${pid}); stop it with 'make bed-down'`);
  }
  rmSync(bedDir, { recursive: true, force: true });
  const plane = await LocalControlPlane.start({ dir: bedDir, keepDir: true, log: console.log });
  writeFileSync(ownerFile, String(process.pid));
  writeFileSync(path.join(bedDir, 'env'), shellExports(plane.endpoints()) + '\n');
  console.log(`bed: up. In another shell: source ${path.join(bedDir, 'env')}   (Ctrl-C here stops it)`);
  const shutdown = async () => {
    await plane.stop();
    rmSync(ownerFile, { force: true });
    console.log('bed: stopped');
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  setInterval(() => {}, 1 << 30); // keep running until a signal
}

function down(): void {
  if (!existsSync(ownerFile)) {
    console.log('bed: none running');
    return;
  }
  const pid = Number(readFileSync(ownerFile, 'utf8'));
  if (isAlive(pid)) process.kill(pid, 'SIGTERM');
  console.log(`bed: asked pid ${pid} to stop`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const command = process.argv[2];
switch (command) {
  case 'up':
    await up();
    break;
  case 'down':
    down();
    break;
  case 'env':
    console.log(shellExports(JSON.parse(readFileSync(path.join(bedDir, 'bed.json'), 'utf8'))));
    break;
  default:
    console.error('usage: cli.ts up|down|env');
    process.exit(2);
}
