// API errors as the API server returns them: a metav1.Status with reason and code.
import type { ResourceType } from './resources.js';

export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: this.message, reason: this.reason, ...(this.details ? { details: this.details } : {}), code: this.code,
    };
  }
}

/** "pods", "leases.coordination.k8s.io": how messages name a resource. */
export const qualified = (r: ResourceType): string => (r.group ? `${r.resource}.${r.group}` : r.resource);
const details = (r: ResourceType, name: string) => ({ name, ...(r.group ? { group: r.group } : {}), kind: r.resource });

export const notFound = (r: ResourceType, name: string) => new HttpError(404, 'NotFound', `${qualified(r)} "${name}" not found`, details(r, name));
export const alreadyExists = (r: ResourceType, name: string) => new HttpError(409, 'AlreadyExists', `${qualified(r)} "${name}" already exists`, details(r, name));
export const conflict = (r: ResourceType, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again') =>
  new HttpError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(r)} "${name}": ${why}`, details(r, name));
export const badRequest = (msg: string) => new HttpError(400, 'BadRequest', msg);
export const unauthorized = () => new HttpError(401, 'Unauthorized', 'Unauthorized');
export const methodNotAllowed = () => new HttpError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
export const unsupportedMediaType = (t: string) => new HttpError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got ${t})`);
export const expired = (msg: string) => new HttpError(410, 'Expired', msg);
export const invalid = (r: ResourceType, name: string, causes: { field: string; message: string }[]) =>
  new HttpError(422, 'Invalid', `${r.kind} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, {
    ...details(r, name), causes: causes.map((c) => ({ reason: 'FieldValueInvalid', message: c.message, field: c.field })),
  });

export function forbidden(user: string, a: { verb: string; apiGroup: string; resource: string; subresource: string; namespace: string; name: string }, why = ''): HttpError {
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const what = a.apiGroup ? `${res}.${a.apiGroup}` : res;
  const subject = a.name ? `${what} "${a.name}"` : what;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return new HttpError(403, 'Forbidden', `${subject} is forbidden: User "${user}" cannot ${a.verb} resource "${res}" in API group "${a.apiGroup}" ${scope}${why ? `: ${why}` : ''}`, {
    ...(a.name ? { name: a.name } : {}), ...(a.apiGroup ? { group: a.apiGroup } : {}), kind: a.resource,
  });
}

export function successStatus(r: ResourceType, name: string, uid?: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { ...details(r, name), ...(uid ? { uid } : {}) } };
}
