import { HDNodeWallet, Mnemonic } from 'ethers';

/** anvil's well-known public development mnemonic; its keys are public test vectors. */
export const ANVIL_DEV_MNEMONIC = 'test test test test test test test test test test test junk';

export interface DevAccount {
  address: string;
  privateKey: string;
}

export function deriveDevAccounts(mnemonic: string, count: number): DevAccount[] {
  const root = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(mnemonic), "m/44'/60'/0'/0");
  const accounts: DevAccount[] = [];
  for (let i = 0; i < count; i++) {
    const wallet = root.deriveChild(i);
    accounts.push({ address: wallet.address, privateKey: wallet.privateKey });
  }
  return accounts;
}
