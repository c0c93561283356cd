#!/usr/bin/env python3
"""Signs fixed requests with botocore's SigV4Auth and prints one Authorization header a line.

Reads a JSON list of cases on stdin; each case: method, url (path and query already encoded as
they go on the wire), headers (dict), body (str), service, region, access_key, secret_key,
token (or null), timestamp ("YYYYMMDDTHHMMSSZ").  Used by tests/test_aws_sigv4.c to compare
our signer with botocore's for the request shapes mskpki sends.
"""
import datetime
import json
import sys
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(case):
    when = datetime.datetime.strptime(case["timestamp"], "%Y%m%dT%H%M%SZ")
    when = when.replace(tzinfo=datetime.timezone.utc)
    creds = Credentials(case["access_key"], case["secret_key"], case.get("token"))
    req = AWSRequest(method=case["method"], url=case["url"], headers=case.get("headers", {}),
                     data=case.get("body", "").encode())
    signer = botocore.auth.SigV4Auth(creds, case["service"], case["region"])
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        signer.add_auth(req)
    return req.headers["Authorization"]


def main():
    for case in json.load(sys.stdin):
        print(sign(case))
    return 0


if __name__ == "__main__":
    sys.exit(main())
