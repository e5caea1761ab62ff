import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseQuantity, Quantity, QuantityError, QUANTITY_FORMAT_MESSAGE, toBytes, toMilliCores } from '../../agent/pods/quantity.js';

test('cpu quantities to millicores', () => {
  assert.equal(toMilliCores('100m'), 100);
  assert.equal(toMilliCores('1'), 1000);
  assert.equal(toMilliCores('1.5'), 1500);
  assert.equal(toMilliCores(2), 2000);
  assert.equal(toMilliCores(0.25), 250);
  assert.equal(toMilliCores('1u'), 1, 'MilliValue rounds up');
  assert.equal(toMilliCores('2e-1'), 200);
  assert.equal(toMilliCores('0'), 0);
});

test('memory quantities to bytes', () => {
  assert.equal(toBytes('1Ki'), 1024);
  assert.equal(toBytes('64Mi'), 64 * 2 ** 20);
  assert.equal(toBytes('1Gi'), 2 ** 30);
  assert.equal(toBytes('2Ti'), 2 * 2 ** 40);
  assert.equal(toBytes('1k'), 1000);
  assert.equal(toBytes('1M'), 1e6);
  assert.equal(toBytes('1G'), 1e9);
  assert.equal(toBytes('1T'), 1e12);
  assert.equal(toBytes('1e3'), 1000);
  assert.equal(toBytes('1E3'), 1000);
  assert.equal(toBytes('12e+2'), 1200);
  assert.equal(toBytes('0.5Gi'), 2 ** 29);
  assert.equal(toBytes('1500m'), 2, 'Value rounds up');
  assert.equal(toBytes('1E'), 1e18, 'E alone is exa');
});

test('exact comparisons across notations', () => {
  assert.equal(parseQuantity('0.1').cmp(parseQuantity('100m')), 0);
  assert.equal(parseQuantity('1e-1').cmp(parseQuantity('100m')), 0);
  assert.equal(parseQuantity('1Gi').cmp(parseQuantity('1024Mi')), 0);
  assert.equal(parseQuantity('1G').cmp(parseQuantity('1Gi')), -1);
  assert.equal(parseQuantity('2').cmp(parseQuantity('1999m')), 1);
  assert.equal(parseQuantity('100m').add(parseQuantity('0.9')).cmp(parseQuantity('1')), 0);
  assert.equal(parseQuantity('-1').sign(), -1);
  assert.ok(parseQuantity('0Mi').isZero());
});

test('canonical text as the API server prints it', () => {
  const cases: [string, string][] = [
    ['1024Mi', '1Gi'], ['1Gi', '1Gi'], ['1536Mi', '1536Mi'], ['0.5Gi', '512Mi'], ['1000m', '1'], ['2000m', '2'],
    ['1500m', '1500m'], ['0.5', '500m'], ['2000', '2k'], ['1500', '1500'], ['100Ki', '100Ki'], ['512', '512'],
    ['1e3', '1e3'], ['12e2', '1200'], ['0', '0'], ['1u', '1u'], ['0.0000000001', '1n'], ['-100m', '-100m'],
  ];
  for (const [input, want] of cases) assert.equal(parseQuantity(input).toString(), want, input);
});

test('malformed quantities are rejected with the API server wording', () => {
  for (const bad of ['', 'abc', '1 Gi', '1Gb', '1.2.3', 'Mi', '.', '1K', '1e', '--1']) {
    assert.throws(() => Quantity.parse(bad), QuantityError, bad);
  }
  assert.throws(() => Quantity.parse('1Gb'), { message: QUANTITY_FORMAT_MESSAGE });
  assert.throws(() => Quantity.parse('1K'), { message: "unable to parse quantity's suffix" });
});
