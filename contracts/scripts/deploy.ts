/** Deploys TufchainLog to any EVM JSON-RPC endpoint: `npm run deploy -w @tufchain/contracts -- --help`. */
import { runDeployCli } from '../src/dev/deploy-cli.js';

process.exitCode = await runDeployCli(process.argv.slice(2), process.env, {
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
});
