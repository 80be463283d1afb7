// hello-js: the greeting plugin of hello-wasm, in JavaScript, as a
// WebAssembly component of the flowbot:plugin world (wit/plugin.wit),
// built with componentize-js by `cargo xtask examples`.
//
// Call it with `pluginctl call examples/plugins/hello-js greet '{"name":"Ada"}'`.

import * as host from 'flowbot:plugin/host@0.1.0';

function count() {
  const stored = host.kvGet('greetings');
  return stored ? parseInt(new TextDecoder().decode(stored), 10) : 0;
}

function greet(params) {
  const name = (params && params.name) || 'world';
  const greeting = host.getConfig('greeting') || 'Hello';
  const total = count() + 1;
  host.kvSet('greetings', new TextEncoder().encode(String(total)));
  host.emitEvent(JSON.stringify({
    event_type: 'greeting.sent',
    capability: 'greeting',
    operation: 'greet',
    entity_id: name,
    data: { total },
  }));
  host.log('info', `greeted ${name} (#${total})`, []);
  return { text: `${greeting}, ${name}!`, total };
}

function help() {
  return { hello: ['hello [name] - greets you', 'count - greetings so far'] };
}

function command(params) {
  const text = String((params && params.content) || '').trim();
  const [verb, ...rest] = text.split(' ');
  if (verb === 'hello') return { text: greet({ name: rest.join(' ').trim() }).text };
  if (verb === 'count') return { text: `${count()} greetings so far` };
  throw new Error(`unknown command ${JSON.stringify(text)}; try \`hello\``);
}

function abilityCall(params) {
  if (params && params.operation === 'greet_js') return greet(params.params);
  throw new Error(`unknown operation ${JSON.stringify(params && params.operation)}`);
}

// GETs a URL with JavaScript's own `fetch`: wasi:http underneath, which the
// host serves through its HTTP service under the plugin's grants (the
// world's `host.fetch` is the synchronous alternative).
async function fetchUrl(params) {
  const response = await fetch(params.url);
  return { status: response.status, body: await response.text() };
}

// The round trip, for measuring.
const echo = (params) => params;

// Calls a host function by name (the world's `call-function`): one the host
// registered, such as an embedder's `weather.lookup`, or a built-in such as
// `kv.get`.
function callHost(params) {
  return JSON.parse(host.callFunction(params.name, JSON.stringify(params.input ?? null)));
}

const functions = {
  greet, help, command, ability_call: abilityCall, fetch: fetchUrl, echo, call_host: callHost,
};

export const guest = {
  init(configJson) {
    JSON.parse(configJson);
  },
  isReady() {
    return true;
  },
  // Async, so that handlers may await (componentize-js runs the event loop
  // until the promise settles; the export stays synchronous).
  async call(fn, paramsJson) {
    const handler = functions[fn];
    if (!handler) throw { tag: 'unsupported' };
    try {
      return JSON.stringify(await handler(JSON.parse(paramsJson)));
    } catch (e) {
      throw { tag: 'failed', val: String((e && e.message) || e) };
    }
  },
};
