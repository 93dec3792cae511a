#!/usr/bin/env node
// The embedded default chain: anvil on 127.0.0.1 with TestUSDC deployed and the payers funded, and the
// x402 batch-settlement stand-ins (and Multicall3) at their canonical addresses.
//
//   node scripts/chain/start.mjs [--port 8545] [--chain-id 31337] [--block-time <s>] [--reuse]
//
// Runs until SIGINT/SIGTERM, then stops anvil. With --reuse, a chain already answering on the port
// is used instead: the token and the batch-settlement stand-ins are installed there if missing, the table
// printed, and the script exits 0.

import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatUnits } from 'viem';
import {
  ARTIFACTS_DIR,
  BATCH_SETTLEMENT_ADDRESS,
  ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
  MULTICALL3_ADDRESS,
  ROLES,
  TOKEN_ADDRESS,
  TOKEN_DECIMALS,
  TOKEN_NAME,
  TOKEN_VERSION,
  balanceOf,
  deployBatchSettlement,
  deployToken,
  probeChainId,
  startAnvil,
} from '../../tests/js/lib/chain.mjs';

const USAGE = 'usage: node scripts/chain/start.mjs [--port 8545] [--chain-id 31337] [--block-time <seconds>] [--reuse]';

function parseOptions() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8545' },
      'chain-id': { type: 'string', default: '31337' },
      'block-time': { type: 'string' },
      reuse: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const integer = (name, min) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${values[name]}"`);
    return n;
  };
  return {
    port: integer('port', 1),
    chainId: integer('chain-id', 1),
    blockTime: values['block-time'] === undefined ? undefined : integer('block-time', 1),
    reuse: values.reuse,
  };
}

async function printTable({ rpcUrl, chainId, logFile }) {
  const usdc = async (address) => `${formatUnits(await balanceOf(rpcUrl, address), TOKEN_DECIMALS)} USDC`;
  const account = async ({ index, address }) => `#${index} ${address}  ${await usdc(address)}`;
  const rows = [
    ['RPC URL', rpcUrl],
    ['chain id', `${chainId} (eip155:${chainId})`],
    ['token', `${TOKEN_ADDRESS}  TestUSDC, EIP-712 "${TOKEN_NAME}" v${TOKEN_VERSION}, ${TOKEN_DECIMALS} decimals`],
    ['batch', `${BATCH_SETTLEMENT_ADDRESS}  x402BatchSettlement (stand-in)`],
    ['', `${ERC3009_DEPOSIT_COLLECTOR_ADDRESS}  ERC3009DepositCollector (stand-in)`],
    ['', `${MULTICALL3_ADDRESS}  Multicall3 (tryAggregate)`],
  ];
  for (const [i, payer] of ROLES.payers.entries()) rows.push([i === 0 ? 'payers' : '', await account(payer)]);
  rows.push(['payTo', await account(ROLES.payTo)], ['relayer', await account(ROLES.relayer)]);
  if (logFile) rows.push(['anvil log', path.relative(process.cwd(), logFile)]);
  console.log(rows.map(([label, value]) => `  ${label.padEnd(10)} ${value}`).join('\n'));
}

async function main() {
  const { port, chainId, blockTime, reuse } = parseOptions();
  const rpcUrl = `http://127.0.0.1:${port}`;

  const existing = await probeChainId(rpcUrl);
  if (existing !== null) {
    if (!reuse) throw new Error(`a chain (id ${existing}) already answers on ${rpcUrl}; pass --reuse to use it`);
    if (existing !== chainId) throw new Error(`the chain on ${rpcUrl} has id ${existing}, not ${chainId}`);
    await deployToken(rpcUrl);
    await deployBatchSettlement(rpcUrl);
    console.log(`reusing the chain on ${rpcUrl}`);
    await printTable({ rpcUrl, chainId });
    return;
  }

  const anvil = await startAnvil({ port, chainId, blockTime, logFile: path.join(ARTIFACTS_DIR, `anvil-${port}.log`) });
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await anvil.stop();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  // anvil also gets the terminal's Ctrl-C and exits 0 by itself; anything else is a crash.
  anvil.exited.then(({ code, signal }) => {
    if (stopping) return;
    if (code !== 0) console.error(`anvil exited unexpectedly (code ${code}, signal ${signal}); see ${anvil.logFile}`);
    process.exit(code === 0 ? 0 : 1);
  });

  try {
    await deployToken(anvil.rpcUrl);
    await deployBatchSettlement(anvil.rpcUrl);
  } catch (err) {
    await anvil.stop();
    throw err;
  }
  console.log('x402 local chain is up');
  await printTable(anvil);
  console.log('Ctrl-C to stop.');
}

main().catch((err) => {
  console.error(`error: ${err.message}`);
  process.exit(1);
});
