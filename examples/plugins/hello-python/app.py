"""hello-python: the greeting plugin of hello-wasm, in Python, as a
WebAssembly component of the flowbot:plugin world (wit/plugin.wit).

Build it with `cargo xtask examples` (which installs componentize-py into
target/) or by hand:

    componentize-py -d ../../../wit -w plugin componentize app -o hello_python.wasm

and call it with `pluginctl call examples/plugins/hello-python greet '{"name":"Ada"}'`.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.guest import CallError_Failed, CallError_Unsupported
from wit_world.imports import host

CONFIG = {}


def count():
    stored = host.kv_get("greetings")
    return int(stored.decode()) if stored else 0


def greet(params):
    name = (params or {}).get("name") or "world"
    greeting = host.get_config("greeting") or "Hello"
    total = count() + 1
    host.kv_set("greetings", str(total).encode())
    host.emit_event(json.dumps({
        "event_type": "greeting.sent",
        "capability": "greeting",
        "operation": "greet",
        "entity_id": name,
        "data": {"total": total},
    }))
    host.log(host.Level.INFO, f"greeted {name} (#{total})", [])
    return {"text": f"{greeting}, {name}!", "total": total}


def help_(_params):
    return {"hello": ["hello [name] - greets you", "count - greetings so far"]}


def command(params):
    text = str((params or {}).get("content") or "").strip()
    verb, _, rest = text.partition(" ")
    if verb == "hello":
        return {"text": greet({"name": rest.strip()})["text"]}
    if verb == "count":
        return {"text": f"{count()} greetings so far"}
    raise ValueError(f"unknown command {text!r}; try `hello`")


def ability_call(params):
    operation = (params or {}).get("operation")
    if operation == "greet_python":
        return greet((params or {}).get("params"))
    raise ValueError(f"unknown operation {operation!r}")


def fetch(params):
    """GETs a URL through the host's HTTP service (the world's `fetch`)."""
    response = host.fetch(host.HttpRequest("GET", params["url"], [], b""))
    return {"status": response.status, "body": response.body.decode("utf-8", "replace")}


def call_host(params):
    """Calls a host function by name (the world's `call-function`): one the host
    registered, such as an embedder's `weather.lookup`, or a built-in such
    as `kv.get`."""
    params = params or {}
    return json.loads(host.call_function(params["name"], json.dumps(params.get("input"))))


FUNCTIONS = {
    "greet": greet,
    "help": help_,
    "command": command,
    "ability_call": ability_call,
    "fetch": fetch,
    "echo": lambda params: params,  # the round trip, for measuring
    "call_host": call_host,
}


class Guest(exports.Guest):
    def init(self, config_json: str) -> None:
        global CONFIG
        try:
            CONFIG = json.loads(config_json)
        except ValueError as e:
            raise Err(f"config is not JSON: {e}")

    def is_ready(self) -> bool:
        return True

    def call(self, function: str, params_json: str) -> str:
        handler = FUNCTIONS.get(function)
        if handler is None:
            raise Err(CallError_Unsupported())
        try:
            params = json.loads(params_json)
            return json.dumps(handler(params))
        except Err as e:  # a host import's failure carries a message
            if isinstance(e.value, (CallError_Failed, CallError_Unsupported)):
                raise
            raise Err(CallError_Failed(str(e.value)))
        except Exception as e:  # the function's failure, as its error
            raise Err(CallError_Failed(str(e)))
