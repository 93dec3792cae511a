#!/usr/bin/env node
// Compiles the test contracts in tests/contracts with solc-js (the npm `solc` package) and writes
// tests/contracts/build/<Name>.json = {contractName, solcVersion, sourceSha256, settings, abi, bytecode}.
//
//   node scripts/chain/compile.mjs           write the build files
//   node scripts/chain/compile.mjs --check   recompile and exit 1 if a build file differs
//
// The output is reproducible: fixed compiler settings, no metadata in the bytecode (no CBOR
// trailer, no IPFS hash), and each contract compiled on its own under its bare file name.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import solc from 'solc';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CONTRACTS_DIR = path.join(ROOT, 'tests', 'contracts');
const BUILD_DIR = path.join(CONTRACTS_DIR, 'build');
const CONTRACTS = [
  'TestUSDC',
  'TestSmartWallet',
  // Stand-ins of the x402 batch-settlement contracts (placed at their canonical addresses by
  // tests/js/lib/chain.mjs deployBatchSettlement), and a faulty collector for negative tests.
  'TestBatchSettlement',
  'TestERC3009DepositCollector',
  'TestMulticall3',
  'TestFaultyCollector',
];

const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  // Fixed rather than the compiler default, so a solc upgrade cannot silently change the bytecode.
  evmVersion: 'cancun',
  metadata: { bytecodeHash: 'none', appendCBOR: false },
};

/** Compiles one contract and returns the build file's text. */
function build(name) {
  const file = `${name}.sol`;
  const source = readFileSync(path.join(CONTRACTS_DIR, file), 'utf8');
  const input = {
    language: 'Solidity',
    sources: { [file]: { content: source } },
    settings: { ...SETTINGS, outputSelection: { [file]: { [name]: ['abi', 'evm.bytecode.object'] } } },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const diagnostics = output.errors ?? [];
  for (const d of diagnostics) process.stderr.write(d.formattedMessage ?? `${d.severity}: ${d.message}\n`);
  if (diagnostics.some((d) => d.severity === 'error')) throw new Error(`${file} does not compile`);

  const contract = output.contracts?.[file]?.[name];
  if (!contract) throw new Error(`contract ${name} not found in ${file}`);
  const artifact = {
    contractName: name,
    solcVersion: solc.version(),
    sourceSha256: createHash('sha256').update(source).digest('hex'),
    settings: SETTINGS,
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
  };
  return `${JSON.stringify(artifact, null, 2)}\n`;
}

function main() {
  const check = process.argv.includes('--check');
  const unknown = process.argv.slice(2).filter((a) => a !== '--check');
  if (unknown.length) {
    console.error(`unknown argument(s): ${unknown.join(' ')}\nusage: node scripts/chain/compile.mjs [--check]`);
    process.exit(2);
  }

  const stale = [];
  for (const name of CONTRACTS) {
    const text = build(name);
    const target = path.join(BUILD_DIR, `${name}.json`);
    const rel = path.relative(ROOT, target);
    if (check) {
      if (!existsSync(target) || readFileSync(target, 'utf8') !== text) stale.push(rel);
    } else {
      mkdirSync(BUILD_DIR, { recursive: true });
      writeFileSync(target, text);
      console.log(`wrote ${rel}`);
    }
  }
  if (stale.length) {
    console.error(`out of date (run node scripts/chain/compile.mjs): ${stale.join(', ')}`);
    process.exit(1);
  }
  if (check) console.log(`build up to date (${CONTRACTS.join(', ')}, solc ${solc.version()})`);
}

main();
