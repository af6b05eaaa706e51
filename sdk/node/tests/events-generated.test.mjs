// src/events.generated.ts must be exactly what the generator makes of schemas/events/ today.

import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { EVENT_TYPES } from '../dist/index.js';
import { generateEvents, OUTPUT, SCHEMA_DIR } from '../scripts/gen-events.mjs';

test('the committed event types match the schemas (run `npm run generate` after changing them)', () => {
  assert.equal(readFileSync(OUTPUT, 'utf8'), generateEvents(SCHEMA_DIR));
});

test('every event type of the envelope schema is in EVENT_TYPES', () => {
  const envelope = JSON.parse(readFileSync(join(SCHEMA_DIR, 'envelope.schema.json'), 'utf8'));
  assert.deepEqual([...EVENT_TYPES], envelope.properties.type.enum);
});

test('a change to a schema changes the output, so the drift test can fail', (t) => {
  const copy = mkdtempSync(join(tmpdir(), 'co-sdk-schemas-'));
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(SCHEMA_DIR, copy, { recursive: true });
  const file = join(copy, 'exec-chunk.schema.json');
  const schema = JSON.parse(readFileSync(file, 'utf8'));
  schema.properties.newField = { type: 'integer' };
  writeFileSync(file, JSON.stringify(schema));
  const text = generateEvents(copy);
  assert.notEqual(text, generateEvents(SCHEMA_DIR));
  assert.match(text, /newField\?: number;/);
});

test('an unsupported schema keyword is an error, never a silent `unknown`', (t) => {
  const copy = mkdtempSync(join(tmpdir(), 'co-sdk-schemas-'));
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(SCHEMA_DIR, copy, { recursive: true });
  const file = join(copy, 'run-error.schema.json');
  const schema = JSON.parse(readFileSync(file, 'utf8'));
  schema.properties.code = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
  writeFileSync(file, JSON.stringify(schema));
  assert.throws(() => generateEvents(copy), /unsupported JSON Schema keyword oneOf/);
});
