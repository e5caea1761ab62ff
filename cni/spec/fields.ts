// Reading typed fields out of decoded JSON, each error naming the field's path
// ("ipam.ranges[0][1].subnet: ..."). A few lines instead of a schema library: the
// plugin starts once per pod, and zod/mini costs ~9 ms there (setting up the
// library and schemas, then a cold first parse) against well under 1 ms for this.
import { Code, CniError } from './errors.js';

export class Fields {
  private constructor(private readonly o: Record<string, unknown>, readonly path: string) {}

  static of(value: unknown, path: string): Fields {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(path, 'must be an object');
    return new Fields(value as Record<string, unknown>, path);
  }

  at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  has(key: string): boolean {
    return this.o[key] !== undefined && this.o[key] !== null;
  }

  raw(key: string): unknown {
    return this.o[key];
  }

  str(key: string, check?: (s: string) => boolean, rule?: string): string {
    const v = this.o[key];
    if (typeof v !== 'string') throw invalid(this.at(key), v === undefined ? 'required string missing' : 'must be a string');
    if (check && !check(v)) throw invalid(this.at(key), `${JSON.stringify(v)} ${rule ?? 'is not valid'}`);
    return v;
  }

  optStr(key: string, check?: (s: string) => boolean, rule?: string): string | undefined {
    return this.has(key) ? this.str(key, check, rule) : undefined;
  }

  optBool(key: string): boolean | undefined {
    if (!this.has(key)) return undefined;
    const v = this.o[key];
    if (typeof v !== 'boolean') throw invalid(this.at(key), 'must be true or false');
    return v;
  }

  int(key: string, min: number, max: number): number {
    const v = this.o[key];
    if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(this.at(key), v === undefined ? 'required integer missing' : 'must be an integer');
    if (v < min || v > max) throw invalid(this.at(key), `${v} is outside ${min}..${max}`);
    return v;
  }

  optInt(key: string, min: number, max: number): number | undefined {
    return this.has(key) ? this.int(key, min, max) : undefined;
  }

  optObj(key: string): Fields | undefined {
    return this.has(key) ? Fields.of(this.o[key], this.at(key)) : undefined;
  }

  /** Each element with its own path (`key[i]`). */
  optArr<T>(key: string, each: (v: unknown, path: string) => T): T[] | undefined {
    if (!this.has(key)) return undefined;
    const v = this.o[key];
    if (!Array.isArray(v)) throw invalid(this.at(key), 'must be an array');
    return v.map((x, i) => each(x, `${this.at(key)}[${i}]`));
  }
}

export function invalid(path: string, msg: string): CniError {
  return new CniError(Code.InvalidNetworkConfig, `${path || 'config'}: ${msg}`);
}

export function strings(v: unknown, path: string): string {
  if (typeof v !== 'string') throw invalid(path, 'must be a string');
  return v;
}
