"""A hostile gRPC plugin in Python: go-plugin's protocol by hand, on grpcio.

It serves PluginService.Call (stubs generated from proto/plugin.proto into
$HOSTILE_STUBS at test time) and tries, on request, what a malicious plugin
would. Each function answers {"ok": ...} or {"err": the OS's message}:

- read PATH: reads a file or lists a folder;
- write [PATH, TEXT]: writes a file;
- env NAME: the value of a variable of its environment (or null);
- connect "HOST:PORT": opens a TCP connection;
- connect_unix PATH: connects to the unix socket at PATH;
- fork N: starts N processes (each a `sleep`), stopping at the first refusal;
- alloc MIB: allocates and touches MIB mebibytes;
- echo X: answers X.
"""

import json
import os
import socket
import subprocess
import sys
from concurrent import futures

sys.path.insert(0, os.environ.get("HOSTILE_STUBS", "."))

import grpc  # noqa: E402
import plugin_pb2  # noqa: E402
import plugin_pb2_grpc  # noqa: E402


def outcome(action):
    try:
        return {"ok": action()}
    except OSError as e:
        return {"err": f"{e.strerror or e} (os error {e.errno})"}


def read(path):
    if os.path.isdir(path):
        return len(os.listdir(path))
    with open(path) as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return ""


def connect(address):
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        return "%s:%d" % s.getpeername()[:2]


def connect_unix(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        return path


def fork(count):
    # subprocess forks without running Python's fork handlers, which
    # grpcio's threads would make hang.
    children = []
    refused = None
    for _ in range(count):
        try:
            children.append(subprocess.Popen(["sleep", "60"]))
        except OSError as e:
            refused = e
            break
    for child in children:
        child.kill()
        child.wait()
    if refused is not None:
        return {"err": f"{refused.strerror} (os error {refused.errno})", "started": len(children)}
    return {"ok": len(children)}


def alloc(mib):
    blocks = []
    for _ in range(mib):
        blocks.append(bytearray(b"\x01" * (1 << 20)))
    return {"ok": len(blocks)}


class Plugin(plugin_pb2_grpc.PluginServiceServicer):
    def Init(self, request, context):
        return plugin_pb2.InitResponse()

    def IsReady(self, request, context):
        return plugin_pb2.IsReadyResponse(ready=True)

    def Call(self, request, context):
        params = json.loads(request.params or "null")
        function = request.function
        if function == "echo":
            result = params
        elif function == "read":
            result = outcome(lambda: read(params))
        elif function == "write":
            result = outcome(lambda: write(params[0], params[1]))
        elif function == "env":
            result = os.environ.get(params)
        elif function == "connect":
            result = outcome(lambda: connect(params))
        elif function == "connect_unix":
            result = outcome(lambda: connect_unix(params))
        elif function == "fork":
            result = fork(int(params))
        elif function == "alloc":
            result = alloc(int(params))
        else:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "no function " + function)
        return plugin_pb2.CallResponse(result=json.dumps(result))


def main():
    if os.environ.get("FLOWBOT_PLUGIN") != "flowbot-plugin-v1":
        print("run me from a host", file=sys.stderr)
        sys.exit(1)
    folder = os.environ.get("PLUGIN_UNIX_SOCKET_DIR", "/tmp")
    path = os.path.join(folder, "py-%d.sock" % os.getpid())
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    plugin_pb2_grpc.add_PluginServiceServicer_to_server(Plugin(), server)
    server.add_insecure_port("unix:" + path)
    server.start()
    print("1|1|unix|%s|grpc" % path, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
