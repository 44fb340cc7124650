#!/usr/bin/python3
"""A real SMTP server for Driftvakt's notifier tests (aiosmtpd, run by Debian's /usr/bin/python3).

Writes every accepted message to DIR as <time>-<n>.eml, with an `X-Envelope-To:` line added on
top naming the SMTP recipients. It can be told to refuse: with --refuse 451 or 550 every DATA is
answered with that code; with --refuse-file PATH the file's content (451, 550 or empty) decides
per message, so a test can switch a running server between refusing and accepting.

With --auth-file PATH (lines `user:password`) it requires a login (AUTH PLAIN or LOGIN, offered
only over TLS) before MAIL; with --tls-cert and --tls-key it offers STARTTLS (required), or with
--implicit-tls speaks TLS from the first byte (SMTPS). The login probes' tests use these.

Prints READY <port> on stdout once it listens.
"""

import argparse
import itertools
import os
import signal
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

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


class Accounts:
    """An authenticator over a file of `user:password` lines, read at each login."""

    def __init__(self, path):
        self.path = path

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        with open(self.path) as f:
            pairs = dict(l.rstrip("\n").split(":", 1) for l in f if ":" in l)
        user = auth_data.login.decode()
        ok = pairs.get(user) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False)


def tls_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--refuse", choices=["451", "550"])
    p.add_argument("--refuse-file")
    p.add_argument("--auth-file")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--implicit-tls", action="store_true")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    options = {}
    if a.auth_file:
        options.update(authenticator=Accounts(a.auth_file), auth_required=True)
    if a.tls_cert and a.implicit_tls:
        # The whole connection is TLS; aiosmtpd only counts STARTTLS as TLS for AUTH.
        options.update(
            ssl_context=tls_context(a.tls_cert, a.tls_key), auth_require_tls=False
        )
    elif a.tls_cert:
        options.update(
            tls_context=tls_context(a.tls_cert, a.tls_key), require_starttls=True
        )
    controller = Controller(
        Sink(a.dir, a.refuse, a.refuse_file), hostname="127.0.0.1", port=a.port, **options
    )
    controller.start()
    print("READY %d" % a.port, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (controller.stop(), sys.exit(0)))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
