// Kubernetes resource.Quantity, exactly: a quantity is held as a rational number
// (bigint numerator over a power-of-ten denominator), so "0.1", "100m" and "1e-1"
// compare equal and "1Gi" stays an exact integer. Pure.

export class QuantityError extends Error {
  override readonly name = 'QuantityError';
}

/** The API server's own wording for a malformed quantity. */
export const QUANTITY_FORMAT_MESSAGE =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

type Format = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIX: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_BY_EXP = new Map(Object.entries(DECIMAL_SUFFIX).map(([s, e]) => [e, s]));
const BINARY_BY_EXP = new Map([[0, ''], ...Object.entries(BINARY_SUFFIX).map(([s, e]) => [e, s] as [number, string])]);

const pow10 = (n: number): bigint => 10n ** BigInt(n);
const ceilDiv = (a: bigint, b: bigint): bigint => (a > 0n && a % b !== 0n ? a / b + 1n : a / b);

export class Quantity {
  private constructor(
    /** value = num / den; den is a positive power of ten */
    readonly num: bigint,
    readonly den: bigint,
    readonly format: Format,
  ) {}

  static fromRational(num: bigint, den: bigint, format: Format = 'DecimalSI'): Quantity {
    return new Quantity(num, den, format);
  }

  /** Parses "100m", "1.5Gi", "2e3", "7"; a number is taken as its decimal text. */
  static parse(input: string | number): Quantity {
    const text = typeof input === 'number' ? numberText(input) : input;
    const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$/.exec(text);
    if (!m || text === '' || (m[2] === '' && (m[3] ?? '') === '')) throw new QuantityError(QUANTITY_FORMAT_MESSAGE);
    const [, sign, whole, frac = '', suffix = ''] = m;
    let num = BigInt((whole ?? '') + frac || '0');
    let den = pow10(frac.length);
    let format: Format;
    if (suffix in BINARY_SUFFIX) {
      format = 'BinarySI';
      num *= 2n ** BigInt(BINARY_SUFFIX[suffix]!);
    } else if (suffix in DECIMAL_SUFFIX) {
      format = 'DecimalSI';
      const e = DECIMAL_SUFFIX[suffix]!;
      if (e >= 0) num *= pow10(e);
      else den *= pow10(-e);
    } else if (/^[eE][+-]?[0-9]+$/.test(suffix)) {
      format = 'DecimalExponent';
      const e = Number(suffix.slice(1));
      if (Math.abs(e) > 1000) throw new QuantityError(QUANTITY_FORMAT_MESSAGE);
      if (e >= 0) num *= pow10(e);
      else den *= pow10(-e);
    } else if (/^[eEinumkKMGTP]*[-+]?[0-9]*$/.test(suffix)) {
      throw new QuantityError("unable to parse quantity's suffix");
    } else {
      throw new QuantityError(QUANTITY_FORMAT_MESSAGE);
    }
    return new Quantity(sign === '-' ? -num : num, den, format);
  }

  /** Integer value rounded up, as Go's Quantity.Value(): bytes for memory. */
  value(): number {
    return Number(ceilDiv(this.num, this.den));
  }

  /** Value in thousandths rounded up, as Go's Quantity.MilliValue(): millicores for cpu. */
  milliValue(): number {
    return Number(ceilDiv(this.num * 1000n, this.den));
  }

  isZero(): boolean {
    return this.num === 0n;
  }

  sign(): -1 | 0 | 1 {
    return this.num === 0n ? 0 : this.num > 0n ? 1 : -1;
  }

  cmp(other: Quantity): -1 | 0 | 1 {
    const a = this.num * other.den;
    const b = other.num * this.den;
    return a === b ? 0 : a < b ? -1 : 1;
  }

  add(other: Quantity): Quantity {
    const den = this.den > other.den ? this.den : other.den;
    const num = this.num * (den / this.den) + other.num * (den / other.den);
    return new Quantity(num, den, this.format);
  }

  /** The canonical text the API server would print ("1Gi", "500m", "2k", "1500"). */
  toString(): string {
    let format = this.format;
    if (format === 'BinarySI') {
      const integral = this.num % this.den === 0n;
      const small = this.num > -1024n * this.den && this.num < 1024n * this.den;
      if (small || !integral) format = 'DecimalSI';
      else return canonicalBinary(this.num / this.den);
    }
    // Go rounds anything finer than nano up to nano before printing.
    let mantissa = ceilDiv(this.num * pow10(9), this.den);
    let exp = -9;
    if (mantissa === 0n) return '0';
    while (exp < 18 && mantissa % 1000n === 0n) {
      mantissa /= 1000n;
      exp += 3;
    }
    const suffix = format === 'DecimalExponent' ? (exp === 0 ? '' : `e${exp}`) : DECIMAL_BY_EXP.get(exp)!;
    return `${mantissa}${suffix}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

function canonicalBinary(value: bigint): string {
  let exp = 0;
  while (exp < 60 && value !== 0n && value % 1024n === 0n) {
    value /= 1024n;
    exp += 10;
  }
  return `${value}${BINARY_BY_EXP.get(exp)!}`;
}

/** Decimal text of a JS number without "e+21" surprises for integers. */
function numberText(n: number): string {
  if (!Number.isFinite(n)) throw new QuantityError(QUANTITY_FORMAT_MESSAGE);
  if (Number.isInteger(n)) return BigInt(n).toString();
  return String(n);
}

export function parseQuantity(input: string | number): Quantity {
  return Quantity.parse(input);
}

/** cpu quantity -> millicores, rounded up ("250m" -> 250, "1.5" -> 1500). */
export function toMilliCores(input: string | number): number {
  return Quantity.parse(input).milliValue();
}

/** memory/storage quantity -> bytes, rounded up ("1Gi" -> 1073741824, "1k" -> 1000). */
export function toBytes(input: string | number): number {
  return Quantity.parse(input).value();
}
