// Kinds of resource names, by the API's rules (k8s.io/api/core/v1/helper).

/** Extended resources (example.com/gpu): in a domain of their own, outside kubernetes.io. */
export function isExtendedResource(name: string): boolean {
  const slash = name.indexOf('/');
  if (slash < 0 || name.startsWith('requests.')) return false;
  const domain = name.slice(0, slash);
  return domain !== 'kubernetes.io' && !domain.endsWith('.kubernetes.io');
}
