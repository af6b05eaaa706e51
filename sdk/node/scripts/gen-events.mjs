#!/usr/bin/env node
// Generate src/events.generated.ts from the JSON Schemas in schemas/events/.
//
//   node scripts/gen-events.mjs            write the file
//   node scripts/gen-events.mjs --check    exit 1 when the committed file differs
//
// The schemas are themselves generated from the Python event models, so they are the one source
// of truth for both languages; tests/events-generated.test.mjs fails when this output drifts.
// Only the subset of JSON Schema the Python generator emits is understood (types, enum, const,
// anyOf, arrays, objects, local $refs); anything else is an error rather than a silent `unknown`.

import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const SCHEMA_DIR = resolve(HERE, '..', '..', '..', 'schemas', 'events');
export const OUTPUT = resolve(HERE, '..', 'src', 'events.generated.ts');

const KNOWN_KEYS = new Set([
  '$schema', '$id', '$defs', '$ref', 'title', 'description', 'type', 'properties', 'required',
  'additionalProperties', 'items', 'enum', 'const', 'anyOf', 'pattern',
]);

function pascal(text) {
  return text.split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}

function doc(text, indent) {
  return text ? `${indent}/** ${text.replace(/\*\//g, '*\\/').replace(/\s+/g, ' ').trim()} */\n` : '';
}

class Generator {
  constructor() {
    /** name -> {source, text}: shared $defs are emitted once and must agree across files. */
    this.defs = new Map();
  }

  type(schema, where, indent) {
    for (const key of Object.keys(schema)) {
      if (!KNOWN_KEYS.has(key)) throw new Error(`${where}: unsupported JSON Schema keyword ${key}`);
    }
    if (schema.$ref !== undefined) {
      const match = /^#\/\$defs\/([A-Za-z0-9_]+)$/.exec(schema.$ref);
      if (!match) throw new Error(`${where}: unsupported $ref ${schema.$ref}`);
      return match[1];
    }
    if (schema.const !== undefined) return JSON.stringify(schema.const);
    if (schema.enum !== undefined) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
    if (schema.anyOf !== undefined) {
      return schema.anyOf.map((s, i) => this.type(s, `${where}.anyOf[${i}]`, indent)).join(' | ');
    }
    switch (schema.type) {
      case undefined: return 'unknown';
      case 'string': return 'string';
      case 'integer':
      case 'number': return 'number';
      case 'boolean': return 'boolean';
      case 'null': return 'null';
      case 'array': {
        const item = schema.items === undefined ? 'unknown' : this.type(schema.items, `${where}[]`, indent);
        return /[ |]/.test(item) ? `Array<${item}>` : `${item}[]`;
      }
      case 'object': return this.object(schema, where, indent);
      default: throw new Error(`${where}: unsupported type ${JSON.stringify(schema.type)}`);
    }
  }

  object(schema, where, indent) {
    const props = schema.properties ?? {};
    const names = Object.keys(props);
    const extra = schema.additionalProperties;
    if (names.length === 0) {
      if (extra === false) return 'Record<string, never>';
      const value = extra === undefined || extra === true ? 'unknown' : this.type(extra, `${where}.*`, indent);
      return `Record<string, ${value}>`;
    }
    if (extra !== undefined && extra !== false) throw new Error(`${where}: properties with additionalProperties`);
    const required = new Set(schema.required ?? []);
    const inner = indent + '  ';
    const lines = names.map((name) => {
      const key = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name);
      const optional = required.has(name) ? '' : '?';
      const prop = props[name];
      return `${doc(prop.description, inner)}${inner}${key}${optional}: ${this.type(prop, `${where}.${name}`, inner)};`;
    });
    return `{\n${lines.join('\n')}\n${indent}}`;
  }

  declare(name, schema, where) {
    const body = this.type(schema, where, '');
    const text = schema.type === 'object' && body.startsWith('{')
      ? `${doc(schema.description, '')}export interface ${name} ${body}\n`
      : `${doc(schema.description, '')}export type ${name} = ${body};\n`;
    return text;
  }

  addDefs(schema, file) {
    for (const [name, def] of Object.entries(schema.$defs ?? {})) {
      const text = this.declare(name, def, `${file}#/$defs/${name}`);
      const seen = this.defs.get(name);
      if (seen && seen.text !== text) {
        throw new Error(`$defs/${name} differs between ${seen.source} and ${file}`);
      }
      if (!seen) this.defs.set(name, { source: file, text });
    }
  }
}

/** The event types and their payload schema files, in the envelope's order. */
function eventFiles(dir) {
  const envelope = JSON.parse(readFileSync(join(dir, 'envelope.schema.json'), 'utf8'));
  const types = envelope.properties.type.enum;
  const files = new Map();
  for (const branch of envelope.allOf ?? []) {
    const type = branch.if.properties.type.const;
    files.set(type, branch.then.properties.payload.$ref);
  }
  for (const type of types) {
    if (!files.has(type)) throw new Error(`envelope.schema.json: no payload schema for ${type}`);
  }
  const onDisk = readdirSync(dir).filter((f) => f.endsWith('.schema.json') && f !== 'envelope.schema.json');
  const unused = onDisk.filter((f) => ![...files.values()].includes(f));
  if (unused.length) throw new Error(`schemas not referenced by the envelope: ${unused.join(', ')}`);
  return types.map((type) => ({ type, file: files.get(type) }));
}

/** The whole text of events.generated.ts for the schemas in `dir`. */
export function generateEvents(dir = SCHEMA_DIR) {
  const gen = new Generator();
  const events = eventFiles(dir);
  const payloads = [];
  for (const { type, file } of events) {
    const schema = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    gen.addDefs(schema, file);
    const name = `${pascal(type)}Payload`;
    const { $defs: _defs, ...top } = schema;
    payloads.push(gen.declare(name, { ...top, description: top.description ?? `Payload of \`${type}\`.` }, file));
  }
  const out = [
    '// Generated by scripts/gen-events.mjs from schemas/events/*.schema.json: do not edit.',
    '// Regenerate with `npm run generate`; tests/events-generated.test.mjs fails on drift.',
    '',
    ...[...gen.defs.keys()].sort().map((name) => gen.defs.get(name).text),
    ...payloads,
    '/** Every event type, in the order the envelope schema lists them. */',
    `export const EVENT_TYPES = [\n${events.map(({ type }) => `  ${JSON.stringify(type)},`).join('\n')}\n] as const;\n`,
    '/** The type of an event (`run:start`, `exec:chunk`, ...). */',
    'export type EventType = (typeof EVENT_TYPES)[number];\n',
    '/** The payload type of each event type. */',
    `export interface EventPayloads {\n${events.map(({ type }) => `  ${JSON.stringify(type)}: ${pascal(type)}Payload;`).join('\n')}\n}\n`,
  ];
  for (const { type } of events) {
    out.push(`/** One \`${type}\` line of the stream. */`);
    out.push(`export interface ${pascal(type)}Event {\n  type: ${JSON.stringify(type)};\n`
      + '  /** ISO-8601 UTC with milliseconds, when the event was published. */\n  timestamp: string;\n'
      + `  payload: ${pascal(type)}Payload;\n}\n`);
  }
  out.push('/** One line of the JSONL stream: a discriminated union on `type`. */');
  out.push(`export type OrchestratorEvent =\n${events.map(({ type }) => `  | ${pascal(type)}Event`).join('\n')};\n`);
  return out.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = generateEvents();
  if (process.argv.includes('--check')) {
    let current = '';
    try { current = readFileSync(OUTPUT, 'utf8'); } catch { /* missing counts as drift */ }
    if (current !== text) {
      console.error(`${OUTPUT} is out of date: run \`npm run generate\``);
      process.exit(1);
    }
  } else {
    writeFileSync(OUTPUT, text);
    console.error(`wrote ${OUTPUT}`);
  }
}
