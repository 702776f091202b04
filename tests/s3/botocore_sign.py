#!/usr/bin/python3
"""Signs requests with botocore (Debian's python3-botocore), as an independent SigV4 signer.

Reads a JSON list of request descriptions on stdin and prints a JSON list of
{"authorization", "host", "path", "query"} on stdout. The date is fixed by replacing the clock
botocore.auth reads. Run with /usr/bin/python3 (the interpreter Debian's botocore belongs to).

Request description:
  {"method", "endpoint": "http://host:port", "bucket", "key", "virtual_hosted": bool,
   "params": [[k, v], ...], "headers": [[k, v], ...], "body": str, "region", "service",
   "s3": bool, "unsigned_payload": bool, "path": str (generic SigV4 only),
   "access_key", "secret_key", "token", "date": "YYYYmmddTHHMMSSZ"}
"""
import datetime
import json
import sys
from unittest import mock
from urllib.parse import quote, urlsplit

import botocore.auth
import botocore.config
import botocore.credentials
from botocore.awsrequest import AWSRequest


def sign(case):
    creds = botocore.credentials.Credentials(
        case["access_key"], case["secret_key"], case.get("token") or None
    )
    endpoint = urlsplit(case["endpoint"])
    if case.get("s3", True):
        netloc = endpoint.netloc
        if case.get("virtual_hosted"):
            netloc = case["bucket"] + "." + netloc
            path = "/" + case.get("key", "")
        else:
            path = "/" + case["bucket"] + ("/" + case["key"] if case.get("key") else "")
        # What botocore's S3 client does to keys: quote everything but '/' and '~'.
        url = "%s://%s%s" % (endpoint.scheme, netloc, quote(path, safe="/~"))
        signer = botocore.auth.S3SigV4Auth(creds, "s3", case["region"])
    else:
        url = case["endpoint"] + case["path"]
        signer = botocore.auth.SigV4Auth(creds, case["service"], case["region"])
    request = AWSRequest(
        method=case["method"],
        url=url,
        headers=dict(case.get("headers", [])),
        data=case.get("body", "").encode("utf-8"),
        params=[tuple(p) for p in case.get("params", [])],
    )
    if case.get("unsigned_payload"):
        request.context["client_config"] = botocore.config.Config(
            s3={"payload_signing_enabled": False}
        )
    fixed = datetime.datetime.strptime(case["date"], "%Y%m%dT%H%M%SZ")
    with mock.patch("botocore.auth.datetime") as patched:
        patched.datetime.utcnow.return_value = fixed
        patched.datetime.strptime = datetime.datetime.strptime
        signer.add_auth(request)
    return {
        "authorization": request.headers["Authorization"],
        "host": signer.headers_to_sign(request)["host"],
        "path": urlsplit(url).path,
        "query": signer.canonical_query_string(request),
        "content_sha256": request.headers.get("X-Amz-Content-SHA256"),
    }


def main():
    cases = json.load(sys.stdin)
    json.dump([sign(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
