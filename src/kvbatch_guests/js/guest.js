// A kvbatch guest written in JavaScript (componentize-js): wasi:keyvalue/batch with missing and
// duplicate keys, and what each key holds afterwards, one observation per line. It opens the store
// named by its first argument (`default` without one; the wasmtime CLI's is "").
//
// Written for keyvalue draft2 (Spin's, the harness's); `kvbatch build js-guest-draft` builds the same
// code for draft (the wasmtime CLI's) with only the version of the two imports below changed.
import { getArguments } from 'wasi:cli/environment@0.2.6';
import { open } from 'wasi:keyvalue/store@0.2.0-draft2';
import { getMany, setMany, deleteMany } from 'wasi:keyvalue/batch@0.2.0-draft2';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// One get-many entry as [key, value]: draft2 answers a missing key with [key, undefined], draft with
// an undefined entry, which names no key.
function entryOf(entry, key) {
  return entry === undefined ? [key, undefined] : entry;
}

function shown(value) {
  return value === undefined ? 'none' : JSON.stringify(decoder.decode(value));
}

function failure(error) {
  const payload = error && error.payload;
  if (payload && payload.tag) {
    return payload.val === undefined ? payload.tag : `${payload.tag}: ${payload.val}`;
  }
  return String(error);
}

// Runs one batch call and prints `LABEL: ok` or `LABEL: err KIND[: MESSAGE]`.
function attempt(label, call) {
  try {
    const result = call();
    console.log(`${label}: ok`);
    return result;
  } catch (error) {
    console.log(`${label}: err ${failure(error)}`);
    return undefined;
  }
}

// Reads `keys` back in one get-many; for each distinct key prints what it holds and whether that
// is the value this program last wrote (`new`), what it held before (`old`) or something else.
function observe(bucket, keys, before, wanted) {
  const entries = getMany(bucket, keys);
  for (const [i, entry] of entries.entries()) {
    const [key, value] = entryOf(entry, keys[i]);
    const now = value === undefined ? undefined : decoder.decode(value);
    const state = now === wanted[key] ? (wanted[key] === before[key] ? 'unchanged' : 'new') : now === before[key] ? 'old' : 'other';
    console.log(`  ${key}: ${shown(value)} (${state})`);
  }
}

function writeAndObserve(bucket, label, pairs, before) {
  const wanted = {};
  for (const [key, value] of pairs) wanted[key] = value;  // a key named twice: the last value wins
  attempt(`set-many ${label}`, () => setMany(bucket, pairs.map(([k, v]) => [k, encoder.encode(v)])));
  observe(bucket, Object.keys(wanted), before, wanted);
}

export const run = {
  run() {
    const args = getArguments().slice(1);
    const bucket = open(args.length > 0 ? args[0] : 'default');

    writeAndObserve(bucket, '[a=1 b=2 c=3 a=4]', [['a', '1'], ['b', '2'], ['c', '3'], ['a', '4']], {});

    const keys = ['a', 'missing', 'b', 'a', 'c'];
    const entries = attempt(`get-many [${keys.join(' ')}]`, () => getMany(bucket, keys)) || [];
    entries.forEach((entry, i) => {
      const [key, value] = entryOf(entry, keys[i]);
      console.log(`  ${i} ${key}${key === keys[i] ? '' : ` (asked for ${keys[i]})`}: ${shown(value)}`);
    });

    attempt('delete-many [b missing b]', () => deleteMany(bucket, ['b', 'missing', 'b']));
    observe(bucket, ['a', 'b', 'missing', 'c'], { a: '4', b: '2', c: '3' }, { a: '4', c: '3' });

    writeAndObserve(bucket, '[x=10 y=20 z=30 y=21]', [['x', '10'], ['y', '20'], ['z', '30'], ['y', '21']], {});
  },
};
