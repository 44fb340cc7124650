#!/usr/bin/python3
"""A real SMTP server for Driftvakt's notifier tests (aiosmtpd, run by Debian's /usr/bin/python3).

Writes every accepted message to DIR as <time>-<n>.eml, with an `X-Envelope-To:` line added on
top naming the SMTP recipients. It can be told to refuse: with --refuse 451 or 550 every DATA is
answered with that code; with --refuse-file PATH the file's content (451, 550 or empty) decides
per message, so a test can switch a running server between refusing and accepting.

Prints READY <port> on stdout once it listens.
"""

import argparse
import itertools
import os
import signal
import sys
import time

from aiosmtpd.controller import Controller

REPLIES = {
    "451": "451 4.3.0 Temporary failure, try again later",
    "550": "550 5.7.1 Message refused",
}


class Sink:
    def __init__(self, folder, refuse, refuse_file):
        self.folder = folder
        self.refuse = refuse
        self.refuse_file = refuse_file
        self.counter = itertools.count()

    def refusal(self):
        code = self.refuse
        if self.refuse_file and os.path.exists(self.refuse_file):
            with open(self.refuse_file) as f:
                code = f.read().strip()
        return REPLIES.get(code)

    async def handle_DATA(self, server, session, envelope):
        reply = self.refusal()
        if reply:
            return reply
        name = "%d-%06d.eml" % (time.time_ns(), next(self.counter))
        tmp = os.path.join(self.folder, "." + name + ".tmp")
        head = ("X-Envelope-To: %s\r\n" % ", ".join(envelope.rcpt_tos)).encode()
        with open(tmp, "wb") as f:
            f.write(head + envelope.original_content)
        os.rename(tmp, os.path.join(self.folder, name))
        return "250 2.0.0 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--refuse", choices=["451", "550"])
    p.add_argument("--refuse-file")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    controller = Controller(
        Sink(a.dir, a.refuse, a.refuse_file), hostname="127.0.0.1", port=a.port
    )
    controller.start()
    print("READY %d" % a.port, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (controller.stop(), sys.exit(0)))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
