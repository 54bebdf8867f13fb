/** Integer helpers that stay exact up to 2^53 (tree sizes are not limited to 32 bits). */

export function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
}

/** The largest power of two strictly less than n (n >= 2). */
export function largestPowerOfTwoBelow(n: number): number {
  let p = 1;
  while (p * 2 < n) p *= 2;
  return p;
}

export function log2Exact(n: number): number {
  let level = 0;
  for (let p = 1; p < n; p *= 2) level++;
  return level;
}

export const isOdd = (n: number) => n % 2 === 1;
export const half = (n: number) => Math.floor(n / 2);

export function isTreeIndex(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}
