// A container's environment, resolved the way the kubelet does: envFrom first,
// then env (which wins), Secrets and ConfigMaps read through the API, fieldRef
// from the downward API, and $(VAR) references to variables defined before.
import * as k8s from '@kubernetes/client-node';

/** The kubelet's CreateContainerConfigError: the container cannot start until its config exists. */
export class ContainerConfigError extends Error {
  override name = 'ContainerConfigError';
}

/** What fieldRef reads besides the pod object: the addresses the runner gave it. */
export interface PodRuntimeFields {
  podIP: string;
  hostIP: string;
  nodeName: string;
}

/** The environment a container starts from: no variable of the runner leaks in (NODE_OPTIONS in particular). */
export function baseEnv(pod: k8s.V1Pod): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/',
    HOSTNAME: pod.spec?.hostname ?? pod.metadata?.name ?? 'pod',
  };
}

type Data = Record<string, string>;

export async function resolveEnv(
  core: k8s.CoreV1Api,
  pod: k8s.V1Pod,
  container: k8s.V1Container,
  runtime: PodRuntimeFields,
): Promise<Record<string, string>> {
  const namespace = pod.metadata!.namespace!;
  const secrets = new Map<string, Data | undefined>();
  const configMaps = new Map<string, Data | undefined>();
  const secret = async (name: string): Promise<Data | undefined> => {
    if (!secrets.has(name)) secrets.set(name, await readSecret(core, namespace, name));
    return secrets.get(name);
  };
  const configMap = async (name: string): Promise<Data | undefined> => {
    if (!configMaps.has(name)) configMaps.set(name, await readConfigMap(core, namespace, name));
    return configMaps.get(name);
  };

  const env: Record<string, string> = baseEnv(pod);
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.secretRef) {
      const data = await secret(from.secretRef.name!);
      if (!data && !from.secretRef.optional)
        throw new ContainerConfigError(`secret "${from.secretRef.name}" not found`);
      for (const [k, v] of Object.entries(data ?? {})) env[prefix + k] = v;
    }
    if (from.configMapRef) {
      const data = await configMap(from.configMapRef.name!);
      if (!data && !from.configMapRef.optional) {
        throw new ContainerConfigError(`configmap "${from.configMapRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(data ?? {})) env[prefix + k] = v;
    }
  }
  for (const variable of container.env ?? []) {
    const name = variable.name;
    const source = variable.valueFrom;
    if (!source) {
      env[name] = expand(variable.value ?? '', env);
    } else if (source.secretKeyRef) {
      const ref = source.secretKeyRef;
      const data = await secret(ref.name!);
      const value = data?.[ref.key];
      if (value !== undefined) env[name] = value;
      else if (!ref.optional) {
        throw new ContainerConfigError(
          data
            ? `couldn't find key ${ref.key} in Secret ${namespace}/${ref.name}`
            : `secret "${ref.name}" not found`,
        );
      }
    } else if (source.configMapKeyRef) {
      const ref = source.configMapKeyRef;
      const data = await configMap(ref.name!);
      const value = data?.[ref.key];
      if (value !== undefined) env[name] = value;
      else if (!ref.optional) {
        throw new ContainerConfigError(
          data
            ? `couldn't find key ${ref.key} in ConfigMap ${namespace}/${ref.name}`
            : `configmap "${ref.name}" not found`,
        );
      }
    } else if (source.fieldRef) {
      env[name] = fieldValue(pod, source.fieldRef.fieldPath, runtime);
    } else if (source.resourceFieldRef) {
      env[name] = resourceValue(container, source.resourceFieldRef);
    }
  }
  delete env.NODE_OPTIONS;
  return env;
}

/** The downward API's fieldRef paths. */
export function fieldValue(pod: k8s.V1Pod, fieldPath: string, runtime: PodRuntimeFields): string {
  const subscript = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (subscript) {
    const map = subscript[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations;
    return map?.[subscript[2]!] ?? '';
  }
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'metadata.labels':
      return formatMap(pod.metadata?.labels);
    case 'metadata.annotations':
      return formatMap(pod.metadata?.annotations);
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? runtime.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return runtime.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return runtime.hostIP;
    default:
      throw new ContainerConfigError(`unsupported fieldRef path ${fieldPath}`);
  }
}

function formatMap(map: Record<string, string> | undefined): string {
  return Object.entries(map ?? {})
    .map(([k, v]) => `${k}="${v}"`)
    .join('\n');
}

/** resourceFieldRef: the container's request or limit as written (no divisor arithmetic), '0' when unset. */
function resourceValue(container: k8s.V1Container, ref: k8s.V1ResourceFieldSelector): string {
  const [kind, resource] = ref.resource.split('.') as [string, string];
  const values = kind === 'limits' ? container.resources?.limits : container.resources?.requests;
  return String(values?.[resource] ?? '0');
}

/** Kubernetes' $(VAR) expansion: defined variables are replaced, undefined ones kept, $$ escapes. */
export function expand(input: string, env: Record<string, string>): string {
  return input.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) =>
    match === '$$' ? '$' : name !== undefined && name in env ? env[name]! : match,
  );
}

/** A Secret's data, decoded; undefined when it does not exist. */
export async function readSecret(
  core: k8s.CoreV1Api,
  namespace: string,
  name: string,
): Promise<Data | undefined> {
  try {
    const secret = await core.readNamespacedSecret({ name, namespace });
    const data: Data = {};
    for (const [k, v] of Object.entries(secret.data ?? {}))
      data[k] = Buffer.from(v, 'base64').toString('utf8');
    for (const [k, v] of Object.entries(secret.stringData ?? {})) data[k] = v;
    return data;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function readConfigMap(
  core: k8s.CoreV1Api,
  namespace: string,
  name: string,
): Promise<Data | undefined> {
  try {
    const configMap = await core.readNamespacedConfigMap({ name, namespace });
    const data: Data = { ...configMap.data };
    for (const [k, v] of Object.entries(configMap.binaryData ?? {})) {
      data[k] = Buffer.from(v, 'base64').toString('utf8');
    }
    return data;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export function isNotFound(err: unknown): boolean {
  return (err as { code?: number }).code === 404;
}
