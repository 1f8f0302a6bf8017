// A guest written in JavaScript: writes three keys in one set-many, then reads them back in one
// get-many and prints what each key holds. It imports wasi:keyvalue/batch, which kvbatch's provider
// supplies once composed in.
import { open } from 'wasi:keyvalue/store@0.2.0-draft2';
import { getMany, setMany } from 'wasi:keyvalue/batch@0.2.0-draft2';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function failure(error) {
  const payload = error && error.payload;
  if (payload && payload.tag) {
    return payload.val === undefined ? payload.tag : `${payload.tag}: ${payload.val}`;
  }
  return String(error);
}

export const run = {
  run() {
    const bucket = open('default');
    const keys = ['a', 'b', 'c'];
    try {
      setMany(bucket, keys.map((key, i) => [key, encoder.encode(String(i + 1))]));
      console.log('set-many [a b c]: ok');
    } catch (error) {
      console.log(`set-many [a b c]: err ${failure(error)}`);
    }
    for (const [key, value] of getMany(bucket, keys)) {
      console.log(`${key}: ${value === undefined ? 'none' : JSON.stringify(decoder.decode(value))}`);
    }
  },
};
