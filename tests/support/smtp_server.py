#!/usr/bin/python3
"""A real SMTP server for the notify tests: Debian's aiosmtpd on a loopback port.

    smtp_server.py --port P --maildir DIR [--cert C --key K] [--user U --password W]
                   [--require-starttls]

Each accepted message is written to DIR/<n>.eml (the whole DATA as received, headers included)
and a line "MESSAGE <n> from=<mail from> to=<rcpt,...>" is printed; each AUTH attempt prints
"AUTH ok <user>" or "AUTH failed <user>"; "READY <port>" once it listens. With --cert/--key it
offers STARTTLS; --require-starttls refuses every command but EHLO/STARTTLS/QUIT in clear text.
With --user/--password it requires AUTH (and, as aiosmtpd does by default, only over TLS).
"""
import argparse
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--require-starttls", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.maildir, exist_ok=True)
    count = [0]

    def say(line):
        print(line, flush=True)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            count[0] += 1
            path = os.path.join(a.maildir, "%d.eml" % count[0])
            with open(path + ".tmp", "wb") as f:
                f.write(envelope.original_content or envelope.content)
            os.rename(path + ".tmp", path)
            say("MESSAGE %d from=%s to=%s tls=%s" % (count[0], envelope.mail_from,
                ",".join(envelope.rcpt_tos), "yes" if session.ssl else "no"))
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        ok = user == a.user and auth_data.password.decode("utf-8", "replace") == a.password
        say("AUTH %s %s" % ("ok" if ok else "failed", user))
        # handled=False: aiosmtpd answers "535 … credentials invalid" itself (with the default
        # handled=True it would answer nothing and the client would hang).
        return AuthResult(success=ok, handled=False)

    tls = None
    if a.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.cert, a.key)
    kwargs = dict(hostname="127.0.0.1", port=a.port, tls_context=tls,
                  require_starttls=a.require_starttls and tls is not None)
    if a.user:
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)
    ctl = Controller(Handler(), **kwargs)
    ctl.start()
    say("READY %d" % a.port)
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.pause()  # until SIGTERM (the test stops it by its PID)
    ctl.stop()


if __name__ == "__main__":
    sys.exit(main())
