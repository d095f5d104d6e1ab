// Options are defined once, in C (cle_option_defs in src/api.c): the CLI's
// parser and usage text come from that table, and so does the description
// the wasm module gives (cle_options_describe).  This holds everything else
// that names options to that description: the JS API's fields (wasm/api.js),
// their types (wasm/index.d.ts) and the page's form (web/options.js,
// web/index.html).  An option added in C fails here until they say it too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { OPTIONS, toRequest } from '../../wasm/api.js';
import { loadRuntime } from '../../wasm/node.js';
import { FORM_OPTIONS, PAGE_SETS, PAGE_OMITS } from '../../web/options.js';
import { root } from './helpers.mjs';

const described = (await loadRuntime()).options();
const COMMANDS = ['info', 'check', 'equalize'];
// the JS fields of a command, as the C table gives them
const fieldsOf = (cmd) => described.options.filter((o) => o.js && o.commands.includes(cmd));
const jsType = { flag: 'boolean', choice: 'string', integer: 'number', number: 'number', name: 'string', strength: 'string' };
// a value for each kind, and the option strings the C parser expects for it
const sample = (o) => (o.kind === 'flag' ? o.when : o.choices ? o.choices.at(-1)
  : o.default ?? (o.kind === 'name' ? 'w.bin' : o.min));

test('the description is the C library\'s, for every command', () => {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  assert.equal(described.version, pkg.version);
  const flags = described.options.map((o) => o.flag);
  assert.deepEqual(flags, [...new Set(flags)]);
  // the JS API always asks for JSON; --fail-on chooses the CLI's exit status,
  // which a JS call has not; --no-hbf is the default, kept for scripts that
  // said it; every other option is a field of it
  assert.deepEqual(described.options.filter((o) => !o.js).map((o) => o.flag), ['--json', '--fail-on', '--no-hbf']);
  for (const o of described.options) {
    assert.ok(o.commands.length > 0 && o.commands.every((c) => COMMANDS.includes(c)), o.flag);
    assert.ok(jsType[o.kind], `${o.flag}: kind ${o.kind}`);
  }
});

test('wasm/api.js takes exactly the fields the C table names, and writes their flags', () => {
  for (const cmd of COMMANDS) {
    assert.deepEqual(Object.keys(OPTIONS[cmd]).sort(), fieldsOf(cmd).map((o) => o.js).sort(), cmd);
    for (const o of fieldsOf(cmd)) {
      const [type] = OPTIONS[cmd][o.js];
      assert.equal(type, jsType[o.kind], `${cmd} ${o.js}`);
      const v = sample(o);
      const want = o.kind === 'flag' ? [o.flag] : [`${o.flag}=${v}`];
      assert.deepEqual(toRequest(cmd, { [o.js]: v }).args, want, `${cmd} ${o.js}: ${v}`);
      if (o.kind === 'flag') assert.deepEqual(toRequest(cmd, { [o.js]: !v }).args, [], `${cmd} ${o.js}: ${!v}`);
    }
  }
});

// The fields of an interface in index.d.ts: name → { type, doc }.
function declared(name) {
  const dts = readFileSync(path.join(root, 'wasm/index.d.ts'), 'utf8');
  const body = dts.match(new RegExp(`export interface ${name} extends CallOptions \\{([\\s\\S]*?)\\n\\}`));
  assert.ok(body, `index.d.ts declares ${name}`);
  const fields = {};
  for (const [, doc, field, type] of body[1].matchAll(/\/\*\*([\s\S]*?)\*\/\s*(\w+)\?: ([^;]+);/g))
    fields[field] = { type: type.trim(), doc };
  return fields;
}

test('wasm/index.d.ts types each field as the C table does, and names its flag', () => {
  for (const [cmd, iface] of [['check', 'CheckOptions'], ['equalize', 'EqualizeOptions']]) {
    const fields = declared(iface);
    assert.deepEqual(Object.keys(fields).sort(), fieldsOf(cmd).map((o) => o.js).sort(), iface);
    for (const o of fieldsOf(cmd)) {
      const { type, doc } = fields[o.js];
      if (o.kind === 'choice')
        assert.deepEqual(type.split('|').map((t) => t.trim()).sort(), o.choices.map((c) => `'${c}'`).sort(), o.js);
      else assert.equal(type, jsType[o.kind], o.js);
      assert.ok(doc.includes(o.flag), `the doc of ${iface}.${o.js} names ${o.flag}`);
    }
  }
  // CallOptions' own fields and InfoOptions: info takes no options of its own
  assert.deepEqual(fieldsOf('info'), []);
});

// A control of index.html: its tag and attributes (a select's options too).
function control(html, id) {
  const m = html.match(new RegExp(`<(input|select)\\b([^>]*\\bid="${id}"[^>]*)>`));
  assert.ok(m, `index.html has a control with id ${id}`);
  const attrs = Object.fromEntries(
    [...m[2].matchAll(/([\w-]+)(?:="([^"]*)")?/g)].map(([, k, v]) => [k, v ?? '']));
  const c = { tag: m[1], attrs };
  if (m[1] === 'select') {
    const inner = html.slice(m.index).match(/<select[^>]*>([\s\S]*?)<\/select>/)[1];
    c.options = [...inner.matchAll(/<option value="([^"]*)"([^>]*)>/g)].map(([, v, rest]) => ({
      value: v, selected: /\bselected\b/.test(rest),
    }));
  }
  return c;
}

test('the page offers, sets or leaves out each equalize option, with the C defaults and ranges', () => {
  const html = readFileSync(path.join(root, 'web/index.html'), 'utf8');
  const form = html.match(/<form id="eq-form"[\s\S]*?<\/form>/)[0];
  const eq = fieldsOf('equalize');
  const placed = [...Object.keys(FORM_OPTIONS), ...Object.keys(PAGE_SETS), ...Object.keys(PAGE_OMITS)];
  assert.deepEqual(placed.sort(), eq.map((o) => o.js).sort(), 'each option in exactly one of web/options.js\'s lists');
  for (const o of eq) {
    const id = FORM_OPTIONS[o.js];
    if (!id) continue;
    const c = control(form, id);
    if (o.kind === 'flag') {
      assert.equal(c.attrs.type, 'checkbox', id);
      // checked by default when the flag is what turns it off (--no-hbf)
      assert.equal('checked' in c.attrs, o.when === false, `${id} checked`);
    } else if (o.kind === 'choice') {
      assert.equal(c.tag, 'select', id);
      assert.deepEqual(c.options.map((x) => x.value), o.choices, `${id}'s choices`);
      assert.deepEqual(c.options.filter((x) => x.selected).map((x) => x.value), [o.default], `${id}'s default`);
    } else if (o.kind === 'integer' || o.kind === 'number') {
      assert.equal(c.attrs.type, 'number', id);
      // no default in C (worked out from the model): an empty field
      if (o.default === null || o.default === undefined) assert.ok(!('value' in c.attrs), `${id} has no value`);
      else assert.equal(Number(c.attrs.value), o.default, `${id}'s default`);
      assert.equal(Number(c.attrs.min), o.min, `${id}'s min`);
      // no max on the page when C takes any size (1e30)
      if (o.max >= 1e30) assert.ok(!('max' in c.attrs), `${id} has no max`);
      else assert.equal(Number(c.attrs.max), o.max, `${id}'s max`);
      assert.equal(c.attrs.step, o.kind === 'integer' ? '1' : 'any', `${id}'s step`);
    } else {
      assert.fail(`${o.flag}: the page has no control for a ${o.kind}`);
    }
  }
});

test('the CLI usage text lists every option of the table', async () => {
  const lines = [];
  const rt = await loadRuntime({}, { print: (fd, bytes) => lines.push(new TextDecoder().decode(bytes)) });
  assert.equal(rt.cli(['--help']), 0);
  const usage = lines.join('');
  for (const o of described.options) assert.ok(usage.includes(o.arg ? `${o.flag}=${o.arg}` : o.flag), o.flag);
});
