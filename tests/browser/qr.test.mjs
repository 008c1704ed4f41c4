// The QR encoder of the web app (examples/web/qr.js), checked by a decoder none of us wrote:
// every version and mask it can write is read back by jsQR after damage that level M's error
// correction must undo, and each block's check codewords are verified on their own (jsQR
// repairs slightly wrong ones). The security page's own QR code is read in security.test.mjs.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import jsQR from 'jsqr';

import { startApp } from './harness.mjs';

let opened;
let app;
let page;

before(async () => {
  opened = await startApp('qr');
  ({ app, page } = opened);
}, { timeout: 60_000 });

after(async () => {
  await opened?.close();
});

/**
 * A module matrix as pixels (2 per module, the 4-module quiet zone), for jsQR, with three
 * modules flipped: the first three codewords (placed up the right edge from the bottom-right
 * corner) each get one wrong bit, which level M's Reed-Solomon check codewords must repair.
 * jsQR only repairs what is damaged, so a symbol with wrong check codewords but intact data
 * would still read; damaged, it does not.
 */
function damagedPixels(modules) {
  const size = modules.length;
  const flipped = new Set([size - 1, size - 6, size - 10].map((row) => `${row},${size - 1}`));
  const scale = 2;
  const side = (size + 8) * scale;
  const rgba = new Uint8ClampedArray(side * side * 4).fill(255);
  modules.forEach((row, r) =>
    row.forEach((dark, c) => {
      if (dark === flipped.has(`${r},${c}`)) return;
      for (let y = 0; y < scale; y++) {
        for (let x = 0; x < scale; x++) {
          const i = (((r + 4) * scale + y) * side + (c + 4) * scale + x) * 4;
          rgba[i] = rgba[i + 1] = rgba[i + 2] = 0;
        }
      }
    }),
  );
  return { rgba, side };
}

/** Multiplication in QR's GF(256) (x^8 + x^4 + x^3 + x^2 + 1), shift and add. */
function gfMul(a, b) {
  let product = 0;
  for (; b; b >>= 1) {
    if (b & 1) product ^= a;
    a <<= 1;
    if (a & 0x100) a ^= 0x11d;
  }
  return product;
}

/**
 * Whether a block's data and n check codewords form a Reed-Solomon codeword as QR defines
 * it: the polynomial vanishes at a^0 ... a^(n-1). jsQR alone would not tell: its decoder
 * repairs check codewords that are a little wrong and still reads the data.
 */
function isCodeword({ data, ec }) {
  const word = [...data, ...ec];
  let root = 1;
  for (let i = 0; i < ec.length; i++) {
    let value = 0;
    for (const c of word) value = gfMul(value, root) ^ c;
    if (value !== 0) return false;
    root = gfMul(root, 2);
  }
  return ec.length > 0;
}

test('the QR encoder writes every version and mask so that jsQR reads it back, repaired', { timeout: 90_000 }, async () => {
  await page.goto(`${app}/`);
  // Lengths at both ends of each version's byte capacity at level M (versions 1 to 20), each
  // under all eight masks, and a URL as long as a long address makes it: each read by jsQR
  // after a little damage that the error correction must undo.
  const cases = await page.evaluate(async () => {
    const { encodeQr, MAX_VERSION } = await import('/app/qr.js');
    const capacity = [0, 14, 26, 42, 62, 84, 106, 122, 152, 180, 213, 251, 287, 331, 362, 412, 450, 504, 560, 624, 666];
    const out = [];
    for (let v = 1; v <= MAX_VERSION; v++) {
      for (const length of [capacity[v - 1] + 1, capacity[v]]) {
        const text = Array.from({ length }, (_, i) => String.fromCharCode(33 + ((i * 7 + v) % 90))).join('');
        for (let mask = 0; mask < 8; mask++) out.push({ v, forced: mask, text, ...encodeQr(text, { mask }) });
      }
      const text = `otpauth://totp/authql:v${v}?secret=${'ABCDEFGHIJKLMNOP'.repeat(42)}`.slice(0, capacity[v]);
      out.push({ v, forced: null, text, ...encodeQr(text) });
    }
    const url = `otpauth://totp/authql:${'a'.repeat(120)}%40example.com?secret=${'A'.repeat(32)}&issuer=authql`;
    out.push({ v: null, forced: null, text: url, ...encodeQr(url) });
    let tooLong = null;
    try {
      encodeQr('x'.repeat(667));
    } catch (e) {
      tooLong = e.message;
    }
    return { out, tooLong };
  });
  assert.equal(cases.out.length, 20 * (2 * 8 + 1) + 1);
  for (const c of cases.out) {
    if (c.v != null) {
      assert.equal(c.version, c.v, `${c.text.length} bytes take version ${c.v}`);
      if (c.forced != null) assert.equal(c.mask, c.forced, 'the mask asked for');
    }
    assert.ok(c.blocks.every(isCodeword), `version ${c.version}: each block's check codewords are right`);
    const { rgba, side } = damagedPixels(c.modules);
    const read = jsQR(rgba, side, side);
    assert.equal(read?.data, c.text, `version ${c.version}, mask ${c.mask}, ${c.text.length} bytes`);
    assert.equal(read.version, c.version);
  }
  assert.match(cases.tooLong ?? '', /do not fit/, 'too long a text is refused, not drawn wrong');
  // Left to choose, the encoder scores the masks: the choice changes with the content.
  const chosen = new Set(cases.out.filter((c) => c.forced == null).map((c) => c.mask));
  assert.ok(chosen.size >= 3, `masks chosen: ${[...chosen]}`);
});
