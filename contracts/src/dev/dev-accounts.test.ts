import { describe, expect, it } from 'vitest';
import {
  ANVIL_DEV_ACCOUNTS,
  ANVIL_DEV_MNEMONIC,
  deriveDevAccounts,
  deriveFromMnemonic,
} from './dev-accounts.js';

describe('ANVIL_DEV_ACCOUNTS', () => {
  it('are exactly the accounts derived from the public anvil dev mnemonic', () => {
    expect(deriveFromMnemonic(ANVIL_DEV_MNEMONIC, 10)).toEqual(ANVIL_DEV_ACCOUNTS);
    // The address anvil documents as its first dev account.
    expect(ANVIL_DEV_ACCOUNTS[0]?.address).toBe('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
  });
});

describe('deriveDevAccounts', () => {
  it('derives accounts of another mnemonic instead of returning the dev vectors', () => {
    const other = 'legal winner thank year wave sausage worth useful legal winner thank yellow';
    const [first] = deriveDevAccounts(other, 1);
    expect(first?.address).not.toBe(ANVIL_DEV_ACCOUNTS[0]?.address);
    expect(deriveDevAccounts(ANVIL_DEV_MNEMONIC, 12)).toHaveLength(12);
  });
});
