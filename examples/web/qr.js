// A QR code encoder (ISO/IEC 18004), small enough to read: byte mode, error correction level
// M, versions 1 to 20 (up to 666 bytes; an otpauth:// URL of ~200 characters needs version
// 10). The app draws a TOTP secret with it, so the secret never leaves this page for an
// image service. It returns the module matrix; the security page draws it as SVG.

// Level M, per version: error correction codewords per block, then [blocks, data codewords
// per block] for each group (ISO/IEC 18004 table 9).
const LEVEL_M = [
  null,
  [10, [1, 16]],
  [16, [1, 28]],
  [26, [1, 44]],
  [18, [2, 32]],
  [24, [2, 43]],
  [16, [4, 27]],
  [18, [4, 31]],
  [22, [2, 38], [2, 39]],
  [22, [3, 36], [2, 37]],
  [26, [4, 43], [1, 44]],
  [30, [1, 50], [4, 51]],
  [22, [6, 36], [2, 37]],
  [22, [8, 37], [1, 38]],
  [24, [4, 40], [5, 41]],
  [24, [5, 41], [5, 42]],
  [28, [7, 45], [3, 46]],
  [28, [10, 46], [1, 47]],
  [26, [9, 43], [4, 44]],
  [26, [3, 44], [11, 45]],
  [26, [3, 41], [13, 42]],
];
export const MAX_VERSION = LEVEL_M.length - 1;

// Row/column centres of the alignment patterns (annex E).
const ALIGNMENT = [
  null, [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34],
  [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50], [6, 30, 54], [6, 32, 58], [6, 34, 62],
  [6, 26, 46, 66], [6, 26, 48, 70], [6, 26, 50, 74], [6, 30, 54, 78], [6, 30, 56, 82],
  [6, 30, 58, 86], [6, 34, 62, 90],
];

const LEVEL_M_BITS = 0b00; // the format information's code for level M
const FORMAT_GENERATOR = 0b10100110111; // BCH(15,5)
const FORMAT_XOR = 0b101010000010010;
const VERSION_GENERATOR = 0b1111100100101; // BCH(18,6)
const MODE_BYTE = 0b0100;
const PAD_BYTES = [0xec, 0x11];

/**
 * Encodes `text` (as UTF-8) in the smallest version that holds it. Returns `{ version, size,
 * mask, modules, blocks }`: `modules[row][col]` is true for a dark module, `blocks` holds each
 * block's data and check codewords. `options.mask` (0-7) forces a mask instead of the one with
 * the lowest penalty.
 */
export function encodeQr(text, options = {}) {
  const bytes = new TextEncoder().encode(text);
  const version = smallestVersion(bytes.length);
  const blocks = splitBlocks(dataCodewords(bytes, version), version);
  const codewords = interleave(blocks);
  const base = new QrSymbol(version);
  base.placeData(codewords);
  let best = null;
  const masks = options.mask == null ? [0, 1, 2, 3, 4, 5, 6, 7] : [options.mask];
  for (const mask of masks) {
    const candidate = base.withMask(mask);
    const score = penalty(candidate.modules);
    if (best == null || score < best.score) best = { symbol: candidate, mask, score };
  }
  // The blocks too, so that the error correction can be checked on its own.
  return { version, size: best.symbol.size, mask: best.mask, modules: best.symbol.modules, blocks };
}

function capacity(version) {
  const [, ...groups] = LEVEL_M[version];
  return groups.reduce((sum, [blocks, data]) => sum + blocks * data, 0);
}

function countBits(version) {
  return version <= 9 ? 8 : 16;
}

function smallestVersion(length) {
  for (let v = 1; v <= MAX_VERSION; v++) {
    if (4 + countBits(v) + 8 * length <= 8 * capacity(v)) return v;
  }
  throw new RangeError(`${length} bytes do not fit in a QR code of version ${MAX_VERSION} at level M`);
}

/** Mode, count, the bytes, terminator and padding: the data codewords of `version`. */
function dataCodewords(bytes, version) {
  const bits = [];
  const push = (value, width) => {
    for (let i = width - 1; i >= 0; i--) bits.push((value >>> i) & 1);
  };
  push(MODE_BYTE, 4);
  push(bytes.length, countBits(version));
  for (const b of bytes) push(b, 8);
  const total = 8 * capacity(version);
  push(0, Math.min(4, total - bits.length)); // terminator, shortened when the symbol is full
  while (bits.length % 8 !== 0) bits.push(0);
  const out = [];
  for (let i = 0; i < bits.length; i += 8) {
    out.push(bits.slice(i, i + 8).reduce((acc, bit) => (acc << 1) | bit, 0));
  }
  for (let i = 0; out.length < total / 8; i++) out.push(PAD_BYTES[i % 2]);
  return out;
}

// ---------------------------------------------------------------------------------------
// Reed-Solomon over GF(256) with the field polynomial x^8 + x^4 + x^3 + x^2 + 1.

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  // Doubled so a product's log needs no reduction mod 255.
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
}

function gfMul(a, b) {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]];
}

/** (x - a^0)(x - a^1)...(x - a^(n-1)): coefficients, highest power first, leading 1 left out. */
function generatorPolynomial(n) {
  let poly = [1];
  for (let i = 0; i < n; i++) {
    const next = new Array(poly.length + 1).fill(0);
    for (let j = 0; j < poly.length; j++) {
      next[j] ^= poly[j];
      next[j + 1] ^= gfMul(poly[j], EXP[i]);
    }
    poly = next;
  }
  return poly.slice(1);
}

/** The remainder of data(x) * x^n divided by the generator: the n check codewords. */
function reedSolomon(data, n) {
  const generator = generatorPolynomial(n);
  const rem = new Array(n).fill(0);
  for (const d of data) {
    const factor = d ^ rem.shift();
    rem.push(0);
    for (let i = 0; i < n; i++) rem[i] ^= gfMul(generator[i], factor);
  }
  return rem;
}

/** Splits the data codewords into the version's blocks, each with its check codewords. */
function splitBlocks(data, version) {
  const [ecPerBlock, ...groups] = LEVEL_M[version];
  const blocks = [];
  let offset = 0;
  for (const [count, length] of groups) {
    for (let i = 0; i < count; i++) {
      const block = data.slice(offset, offset + length);
      offset += length;
      blocks.push({ data: block, ec: reedSolomon(block, ecPerBlock) });
    }
  }
  return blocks;
}

/** The order of placement: data codewords column by column across the blocks, then check codewords. */
function interleave(blocks) {
  const out = [];
  const longest = Math.max(...blocks.map((b) => b.data.length));
  for (let i = 0; i < longest; i++) {
    for (const b of blocks) if (i < b.data.length) out.push(b.data[i]);
  }
  for (let i = 0; i < blocks[0].ec.length; i++) {
    for (const b of blocks) out.push(b.ec[i]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The symbol: function patterns, data placement, masks and their penalty.

class QrSymbol {
  constructor(version) {
    this.version = version;
    this.size = 17 + 4 * version;
    this.modules = grid(this.size, false);
    // Modules that are not data: never masked, never filled with data.
    this.reserved = grid(this.size, false);
    this.drawFunctionPatterns();
  }

  set(row, col, dark) {
    this.modules[row][col] = dark;
    this.reserved[row][col] = true;
  }

  drawFunctionPatterns() {
    const { size } = this;
    for (let i = 0; i < size; i++) {
      this.set(6, i, i % 2 === 0);
      this.set(i, 6, i % 2 === 0);
    }
    this.drawFinder(0, 0);
    this.drawFinder(0, size - 7);
    this.drawFinder(size - 7, 0);
    const centres = ALIGNMENT[this.version];
    const last = centres.length - 1;
    for (const [i, row] of centres.entries()) {
      for (const [j, col] of centres.entries()) {
        // The three corners that hold finder patterns.
        if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) continue;
        for (let dr = -2; dr <= 2; dr++) {
          for (let dc = -2; dc <= 2; dc++) {
            this.set(row + dr, col + dc, Math.max(Math.abs(dr), Math.abs(dc)) !== 1);
          }
        }
      }
    }
    // Format and version information: reserved now, written once the mask is known.
    this.drawFormat(0);
    this.drawVersion();
  }

  /** A 7x7 finder with its one-module light separator, top-left corner at (row, col). */
  drawFinder(row, col) {
    for (let dr = -1; dr <= 7; dr++) {
      for (let dc = -1; dc <= 7; dc++) {
        const r = row + dr;
        const c = col + dc;
        if (r < 0 || c < 0 || r >= this.size || c >= this.size) continue;
        const ring = Math.max(Math.abs(dr - 3), Math.abs(dc - 3));
        this.set(r, c, ring !== 2 && ring !== 4);
      }
    }
  }

  drawFormat(mask) {
    const bits = bch((LEVEL_M_BITS << 3) | mask, FORMAT_GENERATOR, 10) ^ FORMAT_XOR;
    const bit = (i) => ((bits >>> i) & 1) === 1;
    const { size } = this;
    // Around the top-left finder: down column 8, then left along row 8, skipping the timing.
    for (let i = 0; i <= 5; i++) this.set(i, 8, bit(i));
    this.set(7, 8, bit(6));
    this.set(8, 8, bit(7));
    this.set(8, 7, bit(8));
    for (let i = 9; i < 15; i++) this.set(8, 14 - i, bit(i));
    // The copy split between the other two finders.
    for (let i = 0; i < 8; i++) this.set(8, size - 1 - i, bit(i));
    for (let i = 8; i < 15; i++) this.set(size - 15 + i, 8, bit(i));
    this.set(size - 8, 8, true); // the dark module
  }

  drawVersion() {
    if (this.version < 7) return;
    const bits = bch(this.version, VERSION_GENERATOR, 12);
    for (let i = 0; i < 18; i++) {
      const dark = ((bits >>> i) & 1) === 1;
      const a = this.size - 11 + (i % 3);
      const b = Math.floor(i / 3);
      this.set(b, a, dark); // left of the top-right finder
      this.set(a, b, dark); // above the bottom-left finder
    }
  }

  /** Fills the free modules in two-column strips, zigzagging up and down from the right. */
  placeData(codewords) {
    const { size } = this;
    const total = codewords.length * 8;
    let n = 0;
    let upward = true;
    for (let right = size - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5; // the vertical timing pattern takes column 6
      for (let step = 0; step < size; step++) {
        const row = upward ? size - 1 - step : step;
        for (const col of [right, right - 1]) {
          if (this.reserved[row][col]) continue;
          // Past the codewords: the remainder bits, which are 0.
          const dark = n < total && ((codewords[n >>> 3] >>> (7 - (n & 7))) & 1) === 1;
          this.modules[row][col] = dark;
          n++;
        }
      }
      upward = !upward;
    }
    if (n < total) throw new Error(`QR version ${this.version}: ${total} data bits but room for ${n}`);
    if (n - total > 7) throw new Error(`QR version ${this.version}: ${n - total} modules left over`);
  }

  withMask(mask) {
    const copy = Object.create(QrSymbol.prototype);
    copy.version = this.version;
    copy.size = this.size;
    copy.reserved = this.reserved;
    copy.modules = this.modules.map((row) => row.slice());
    const flip = MASKS[mask];
    for (let r = 0; r < this.size; r++) {
      for (let c = 0; c < this.size; c++) {
        if (!this.reserved[r][c] && flip(r, c)) copy.modules[r][c] = !copy.modules[r][c];
      }
    }
    copy.drawFormat(mask);
    return copy;
  }
}

const MASKS = [
  (r, c) => (r + c) % 2 === 0,
  (r) => r % 2 === 0,
  (r, c) => c % 3 === 0,
  (r, c) => (r + c) % 3 === 0,
  (r, c) => (Math.floor(r / 2) + Math.floor(c / 3)) % 2 === 0,
  (r, c) => ((r * c) % 2) + ((r * c) % 3) === 0,
  (r, c) => (((r * c) % 2) + ((r * c) % 3)) % 2 === 0,
  (r, c) => (((r + c) % 2) + ((r * c) % 3)) % 2 === 0,
];

function grid(size, value) {
  return Array.from({ length: size }, () => new Array(size).fill(value));
}

/** `value` followed by the remainder of value * x^degree over `generator` (GF(2)). */
function bch(value, generator, degree) {
  let rem = value << degree;
  const top = 31 - Math.clz32(generator);
  for (let bit = 31 - Math.clz32(rem); bit >= top; bit--) {
    if ((rem >>> bit) & 1) rem ^= generator << (bit - top);
  }
  return (value << degree) | rem;
}

/** The four penalty rules of the standard (section 7.8.3); the lowest score wins. */
function penalty(m) {
  const size = m.length;
  let score = 0;
  const column = (c) => m.map((row) => row[c]);
  const lines = [...m, ...Array.from({ length: size }, (_, c) => column(c))];
  for (const line of lines) {
    // Rule 1: a run of five or more alike scores 3, plus 1 for each module past five.
    let run = 1;
    for (let i = 1; i <= size; i++) {
      if (i < size && line[i] === line[i - 1]) {
        run++;
      } else {
        if (run >= 5) score += 3 + (run - 5);
        run = 1;
      }
    }
    // Rule 3: dark-light-dark-dark-dark-light-dark with four light modules on one side
    // (outside the symbol counts as light: it is the quiet zone).
    const at = (i) => i >= 0 && i < size && line[i];
    for (let i = 0; i + 6 < size; i++) {
      const finderLike = at(i) && !at(i + 1) && at(i + 2) && at(i + 3) && at(i + 4) && !at(i + 5) && at(i + 6);
      if (!finderLike) continue;
      const lightBefore = !at(i - 1) && !at(i - 2) && !at(i - 3) && !at(i - 4);
      const lightAfter = !at(i + 7) && !at(i + 8) && !at(i + 9) && !at(i + 10);
      if (lightBefore || lightAfter) score += 40;
    }
  }
  // Rule 2: each 2x2 block of one colour scores 3.
  let dark = 0;
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      if (m[r][c]) dark++;
      if (r + 1 < size && c + 1 < size) {
        const v = m[r][c];
        if (m[r][c + 1] === v && m[r + 1][c] === v && m[r + 1][c + 1] === v) score += 3;
      }
    }
  }
  // Rule 4: 10 for each full 5% the dark share is away from half.
  const percent = (dark * 100) / (size * size);
  score += Math.floor(Math.abs(percent - 50) / 5) * 10;
  return score;
}
