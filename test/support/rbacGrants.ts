// What rendered RBAC manifests grant a ServiceAccount, and whether that covers
// a permission the code needs (rbacNeeds.ts), evaluated the way the API
// server's RBAC authorizer does for one request: any rule of any Role or
// ClusterRole bound to the account that names the verb, the apiGroup and the
// resource (or `*`), and, when the rule lists resourceNames, only requests for
// one named object.
import type { ApiUse } from './rbacNeeds.ts';

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** A rule, and the Role or ClusterRole it comes from (`ClusterRole/name`, `Role/namespace/name`). */
export interface Grant {
  role: string;
  rule: PolicyRule;
}

interface RbacManifest {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/** Requests for one object by name; list, watch, create and deletecollection never are. */
const namedVerbs = new Set(['get', 'update', 'patch', 'delete']);

/**
 * The rules bound to a ServiceAccount by the given manifests. A binding to a
 * role the manifests do not hold (a cluster's built-in role) is an error: its
 * rules cannot be known from the chart.
 */
export function grantsOf(manifests: RbacManifest[], account: { name: string; namespace: string }): Grant[] {
  const bindings = manifests.filter(
    (m) =>
      (m.kind === 'RoleBinding' || m.kind === 'ClusterRoleBinding') &&
      (m.subjects ?? []).some(
        (s) => s.kind === 'ServiceAccount' && s.name === account.name && s.namespace === account.namespace,
      ),
  );
  return bindings.flatMap((binding) => {
    const ref = binding.roleRef!;
    // A RoleBinding's Role is in the binding's namespace.
    const role = manifests.find(
      (m) =>
        m.kind === ref.kind &&
        m.metadata.name === ref.name &&
        (ref.kind === 'ClusterRole' || m.metadata.namespace === binding.metadata.namespace),
    );
    if (!role)
      throw new Error(
        `${binding.kind} ${binding.metadata.name} binds ${ref.kind} ${ref.name}, not in the chart`,
      );
    const name = [role.kind, role.metadata.namespace, role.metadata.name].filter(Boolean).join('/');
    return (role.rules ?? []).map((rule) => ({ role: name, rule }));
  });
}

const matches = (list: string[] | undefined, value: string) =>
  (list ?? []).some((entry) => entry === '*' || entry === value);

/** Whether one rule allows one needed permission. */
export function allows(rule: PolicyRule, use: Pick<ApiUse, 'apiGroup' | 'resource' | 'verb'>): boolean {
  if (!matches(rule.verbs, use.verb) || !matches(rule.apiGroups, use.apiGroup)) return false;
  if (!matches(rule.resources, use.resource)) return false;
  return !rule.resourceNames?.length || namedVerbs.has(use.verb);
}

/** A permission as people read it: `patch secrets`, `update replicationjobs/finalizers (ferry.dev)`. */
export function describePermission(p: Pick<ApiUse, 'apiGroup' | 'resource' | 'verb'>): string {
  return `${p.verb} ${p.resource}${p.apiGroup ? ` (${p.apiGroup})` : ''}`;
}

/** Every (apiGroup, resource, verb) the grants give that no use needs, with the role granting it. */
export function unusedGrants(grants: Grant[], uses: ApiUse[]): string[] {
  return grants.flatMap(({ role, rule }) =>
    (rule.apiGroups ?? []).flatMap((apiGroup) =>
      (rule.resources ?? []).flatMap((resource) =>
        rule.verbs
          .filter(
            (verb) =>
              !uses.some((u) =>
                allows({ ...rule, apiGroups: [apiGroup], resources: [resource], verbs: [verb] }, u),
              ),
          )
          .map((verb) => `${describePermission({ apiGroup, resource, verb })} in ${role}`),
      ),
    ),
  );
}
