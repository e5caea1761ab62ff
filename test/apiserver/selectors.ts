// Label and field selectors with the API server's grammar and matching. Pure.
//   labels: k, !k, k=v, k==v, k!=v, k in (a,b), k notin (a,b), k>1, k<1
//   fields: f=v, f==v, f!=v, joined by commas

export class SelectorError extends Error {
  override readonly name = 'SelectorError';
}

export type LabelRequirement =
  | { key: string; op: 'exists' | '!' }
  | { key: string; op: '=' | '!=' | 'in' | 'notin'; values: string[] }
  | { key: string; op: '>' | '<'; value: number };

const KEY = /^([a-z0-9A-Z]([-a-zA-Z0-9.]*[a-zA-Z0-9])?\/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;
const VALUE = /^([a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?)?$/;

/** Splits on commas that are not inside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of s) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((p) => p.trim()).filter((p) => p !== '');
}

function checkKey(key: string, sel: string): string {
  if (!KEY.test(key)) throw new SelectorError(`unable to parse requirement: invalid label key "${key}" in "${sel}"`);
  return key;
}
function checkValue(v: string, sel: string): string {
  if (!VALUE.test(v) || v.length > 63) throw new SelectorError(`unable to parse requirement: invalid label value "${v}" in "${sel}"`);
  return v;
}

export function parseLabelSelector(selector: string): LabelRequirement[] {
  return splitTop(selector).map((part): LabelRequirement => {
    let m: RegExpExecArray | null;
    if ((m = /^!\s*(\S+)$/.exec(part))) return { key: checkKey(m[1]!, part), op: '!' };
    if ((m = /^(\S+?)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part))) {
      const values = m[3]!.split(',').map((v) => checkValue(v.trim(), part));
      return { key: checkKey(m[1]!, part), op: m[2] as 'in' | 'notin', values };
    }
    if ((m = /^([^=!<>\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part))) {
      return { key: checkKey(m[1]!, part), op: m[2] === '!=' ? '!=' : '=', values: [checkValue(m[3]!, part)] };
    }
    if ((m = /^([^=!<>\s]+)\s*([<>])\s*(-?\d+)$/.exec(part))) return { key: checkKey(m[1]!, part), op: m[2] as '<' | '>', value: Number(m[3]) };
    if ((m = /^([^=!<>\s(),]+)$/.exec(part))) return { key: checkKey(m[1]!, part), op: 'exists' };
    throw new SelectorError(`unable to parse requirement: "${part}"`);
  });
}

export function matchLabels(reqs: LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'exists': return has;
      case '!': return !has;
      case '=': case 'in': return has && r.values.includes(v!);
      case '!=': case 'notin': return !has || !r.values.includes(v!);
      case '>': return has && /^-?\d+$/.test(v!) && Number(v) > r.value;
      case '<': return has && /^-?\d+$/.test(v!) && Number(v) < r.value;
    }
  });
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** Splits on unescaped `sep`, keeping escapes (\, \= \\) for the value decoder. */
function splitEscaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && i + 1 < s.length) {
      cur += s[i]! + s[i + 1]!;
      i++;
    } else if (s[i] === sep) {
      out.push(cur);
      cur = '';
    } else cur += s[i];
  }
  out.push(cur);
  return out;
}

export function parseFieldSelector(selector: string): FieldRequirement[] {
  return splitEscaped(selector, ',').filter((p) => p.trim() !== '').map((part) => {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/s.exec(part.trim());
    if (!m) throw new SelectorError(`invalid selector: '${selector}'; can't understand '${part}'`);
    return { field: m[1]!, op: m[2] === '!=' ? '!=' : '=', value: m[3]!.replace(/\\(.)/g, '$1') };
  });
}

/** Field values as the API server exposes them: strings, booleans as "true"/"false", absent as "". */
export function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const p of path.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
  return cur === undefined || cur === null ? '' : String(cur);
}

export function matchFields(reqs: FieldRequirement[], obj: unknown): boolean {
  return reqs.every((r) => (fieldValue(obj, r.field) === r.value) === (r.op === '='));
}
