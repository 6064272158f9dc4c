// Which keys a job is about (spec.filters). An object outside the filters is
// neither copied nor deleted: excluding a path never makes Sync delete it (ADR 0004).
import type { ReplicationJobSpec } from '../../api/v1alpha1/index.ts';

export type Filters = NonNullable<ReplicationJobSpec['filters']>;

/**
 * A glob over a whole key: `*` and `?` stay within one path segment, `**`
 * crosses segments ("logs/**" matches everything under logs/). Everything
 * else matches itself.
 */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

export type KeyFilter = (key: string, size: number) => boolean;

export function compileFilters(filters: Filters | undefined): KeyFilter {
  const include = (filters?.include ?? []).map(globToRegExp);
  const exclude = (filters?.exclude ?? []).map(globToRegExp);
  const min = filters?.minSize ?? 0;
  const max = filters?.maxSize ?? Number.POSITIVE_INFINITY;
  return (key, size) =>
    (include.length === 0 || include.some((r) => r.test(key))) &&
    !exclude.some((r) => r.test(key)) &&
    size >= min &&
    size <= max;
}
