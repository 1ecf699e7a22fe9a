"""An independent ZeroMQ peer for examples/plans/zmq.rs: a pyzmq REP echo server.

It binds tcp://127.0.0.1 on the port given as its argument (0 or none: a free port the
system picks), prints `READY port=<port>` once bound (the plan's App waits for that line and
extracts the port), then answers every request with its frames, the first one prefixed by
`py-echo:`, until it is stopped. pyzmq bundles its own libzmq, so this is another build of
ZeroMQ than the one the Rust drivers link.
"""

import sys

try:
    import zmq
except ImportError:
    print(
        "error: pyzmq is missing; install it with `python3 -m pip install pyzmq`",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(3)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    context = zmq.Context()
    socket = context.socket(zmq.REP)
    socket.setsockopt(zmq.LINGER, 0)
    if port:
        socket.bind(f"tcp://127.0.0.1:{port}")
    else:
        port = socket.bind_to_random_port("tcp://127.0.0.1")
    print(f"pyzmq {zmq.pyzmq_version()} libzmq {zmq.zmq_version()}", flush=True)
    print(f"READY port={port}", flush=True)
    while True:
        frames = socket.recv_multipart()
        print(f"request {frames!r}", flush=True)
        socket.send_multipart([b"py-echo:" + frames[0]] + frames[1:])


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
