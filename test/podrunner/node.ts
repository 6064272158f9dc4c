// The Node the runner plays the kubelet of: registered once, Ready, on loopback.
import * as k8s from '@kubernetes/client-node';

export async function registerNode(core: k8s.CoreV1Api, name: string, hostIP: string): Promise<void> {
  const node: k8s.V1Node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'ferry.dev/pod-runner': 'true',
      },
    },
  };
  try {
    await core.createNode({ body: node });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
  const now = new Date();
  const status: k8s.V1NodeStatus = {
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'KubeletReady',
        message: 'the pod runner is posting ready status',
        lastHeartbeatTime: now,
        lastTransitionTime: now,
      },
    ],
    addresses: [
      { type: 'InternalIP', address: hostIP },
      { type: 'Hostname', address: name },
    ],
    capacity: { cpu: '8', memory: '16Gi', pods: '1000' },
    allocatable: { cpu: '8', memory: '16Gi', pods: '1000' },
  };
  await core.patchNodeStatus(
    { name, body: { status } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  // TaintNodesByCondition tainted it not-ready at creation; there is no node controller to lift that.
  await core.patchNode(
    { name, body: { spec: { taints: null } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}
