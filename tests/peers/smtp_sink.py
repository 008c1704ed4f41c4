#!/usr/bin/env python3
"""An SMTP server for the authql tests: accepts every message and keeps it as a file.

    python smtp_sink.py OUTDIR [PORT] [HOST]

Listens on HOST (default 127.0.0.1), PORT (default 0: a free port), and prints
"READY <port>" on stdout once it answers. Each message is written to OUTDIR/NNNN.eml
(raw DATA bytes) through a temporary name and a rename, so every *.eml file is complete.
The envelope goes on stdout: "MSG <file> from=<sender> to=<rcpt,...>". Plain SMTP (no
STARTTLS, no AUTH). Stops on SIGTERM or SIGINT. Needs aiosmtpd (tests/api/peers.rs installs it).
"""
import itertools
import os
import signal
import socket
import sys
import threading

from aiosmtpd.controller import Controller


def main():
    outdir = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    host = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
    os.makedirs(outdir, exist_ok=True)
    if port == 0:
        # The Controller wants a concrete port; the kernel picks one that is free.
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    numbers = itertools.count(1)

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            n = next(numbers)
            tmp = os.path.join(outdir, f".{n:04d}.tmp")
            final = os.path.join(outdir, f"{n:04d}.eml")
            with open(tmp, "wb") as f:
                f.write(envelope.original_content)
            os.rename(tmp, final)
            rcpts = ",".join(envelope.rcpt_tos)
            print(f"MSG {final} from={envelope.mail_from} to={rcpts}", flush=True)
            return "250 Message accepted for delivery"

    controller = Controller(Sink(), hostname=host, port=port)
    controller.start()
    print(f"READY {port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
