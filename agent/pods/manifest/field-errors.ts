// Field errors worded as the API server words them (apimachinery's field.Error), so
// a manifest mistake reads exactly like `kubectl apply` would report it:
//   spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive

export type FieldErrorType =
  | 'Required value'
  | 'Invalid value'
  | 'Duplicate value'
  | 'Unsupported value'
  | 'Not found'
  | 'Forbidden'
  | 'Too long'
  | 'Too many';

/** Marks "no value to print" (Required, Forbidden...). */
const NO_VALUE = Symbol('no value');

export class FieldError {
  constructor(
    readonly type: FieldErrorType,
    readonly field: string,
    readonly value: unknown,
    readonly detail: string,
  ) {}

  toString(): string {
    let body: string = this.type;
    if (this.value !== NO_VALUE) body += `: ${formatValue(this.value)}`;
    if (this.detail) body += `: ${this.detail}`;
    return `${this.field}: ${body}`;
  }
}

/** Go's %v for numbers/booleans, %q for strings, JSON for the rest. */
function formatValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'null';
  return JSON.stringify(v);
}

export const required = (field: string, detail = ''): FieldError => new FieldError('Required value', field, NO_VALUE, detail);
export const invalid = (field: string, value: unknown, detail: string): FieldError => new FieldError('Invalid value', field, value, detail);
export const duplicate = (field: string, value: unknown): FieldError => new FieldError('Duplicate value', field, value, '');
export const notFound = (field: string, value: unknown): FieldError => new FieldError('Not found', field, value, '');
export const forbidden = (field: string, detail: string): FieldError => new FieldError('Forbidden', field, NO_VALUE, detail);
export const tooMany = (field: string, count: number, max: number): FieldError =>
  new FieldError('Too many', field, count, `must have at most ${max} items`);
export const notSupported = (field: string, value: unknown, supported: readonly string[]): FieldError =>
  new FieldError('Unsupported value', field, value, `supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`);

// ---- path building: "spec" + "containers" + 0 -> "spec.containers[0]"

export const child = (path: string, name: string): string => (path ? `${path}.${name}` : name);
export const index = (path: string, i: number): string => `${path}[${i}]`;
export const key = (path: string, k: string): string => `${path}[${k}]`;

/** Path segments from zod (keys and indices) -> "spec.containers[0].ports[1]". */
export function pathString(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const s of segments) out = typeof s === 'number' ? index(out, s) : child(out, String(s));
  return out;
}
