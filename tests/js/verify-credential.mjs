// An independent verifier for the credentials we issue: Digital Bazaar's
// reference JavaScript libraries (@digitalbazaar/vc with the eddsa-rdfc-2022
// Data Integrity cryptosuite), which share no code with our Python signer.
//
//   node verify-credential.mjs credential.json did.json status-list.json context-url=file ...
//
// Contexts come only from the files given (never the network); the issuer's
// key from the DID document given. Prints one JSON line; exits 0 if verified.
import {readFileSync} from 'node:fs';
import {gunzipSync} from 'node:zlib';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import multikey from '@digitalbazaar/multikey-context';

const [credentialPath, didPath, statusPath, ...contextArgs] = process.argv.slice(2);
const read = path => JSON.parse(readFileSync(path, 'utf8'));
const credential = read(credentialPath);
const did = read(didPath);
const contexts = new Map(multikey.contexts);
for(const arg of contextArgs) {
  const at = arg.indexOf('=');
  contexts.set(arg.slice(0, at), read(arg.slice(at + 1)));
}

async function documentLoader(url) {
  if(contexts.has(url)) {
    return {contextUrl: null, documentUrl: url, document: contexts.get(url)};
  }
  const method = did.verificationMethod.find(m => m.id === url);
  if(method) {
    return {
      contextUrl: null, documentUrl: url,
      document: {'@context': multikey.CONTEXT_URL, ...method}
    };
  }
  if(url === did.id) {
    return {contextUrl: null, documentUrl: url, document: did};
  }
  throw new Error(`refused to load ${url}: not given locally`);
}

const suite = new DataIntegrityProof({cryptosuite});

// Revocation: the status list credential must itself verify, then its bit is read.
async function checkStatus({credential}) {
  const entry = credential.credentialStatus;
  const list = read(statusPath);
  const listResult = await vc.verifyCredential({credential: list, suite, documentLoader});
  if(!listResult.verified) {
    return {verified: false, error: new Error('status list does not verify')};
  }
  const encoded = list.credentialSubject.encodedList;
  const bits = gunzipSync(Buffer.from(encoded.slice(1), 'base64url'));
  const index = Number(entry.statusListIndex);
  const revoked = (bits[Math.floor(index / 8)] & (0x80 >> (index % 8))) !== 0;
  return {verified: !revoked, revoked};
}

const result = await vc.verifyCredential({credential, suite, documentLoader, checkStatus});
const error = result.error && (result.error.errors || [result.error]).map(e => e.message).join('; ');
console.log(JSON.stringify({
  verified: result.verified,
  revoked: Boolean(result.statusResult && result.statusResult.revoked),
  error: error || null
}));
process.exit(result.verified ? 0 : 1);
