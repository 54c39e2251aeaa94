import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ndjsonLines } from '../../../src/engine/ndjson.js';

async function linesOf(chunks: (string | Buffer)[]): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of ndjsonLines(Readable.from(chunks))) lines.push(line);
  return lines;
}

describe('ndjsonLines', () => {
  it('joins lines cut across chunks, skips blank ones and keeps a last line without a newline', async () => {
    expect(await linesOf(['{"a":', '1}\n\n  \n{"b"', ':2}\r\n{"c":3}'])).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it('keeps a character whose bytes two chunks split', async () => {
    const bytes = Buffer.from('{"status":"é"}\n');
    const cut = bytes.indexOf(0xa9);
    expect(await linesOf([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(['{"status":"é"}']);
  });
});
