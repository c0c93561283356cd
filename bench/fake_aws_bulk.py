#!/usr/bin/env python3
"""fake_aws_bulk.py: a generated AWS estate behind a slow endpoint, for bench_audit.py.

  fake_aws_bulk.py [--clusters N] [--streams N] [--firehoses N] [--delay-ms D] [--region R]

Serves N MSK clusters (ListClustersV2), N Kinesis streams (ListStreams, DescribeStreamSummary),
N Firehose streams (ListDeliveryStreams, DescribeDeliveryStream), each resource with its own
customer-managed KMS key (DescribeKey, GetKeyRotationStatus, GetKeyPolicy), all in one region.
Every answer waits --delay-ms first (default 50: a far-away region).  Pagination is AWS's: the
caller's page size is honoured up to the API's maximum (MSK maxResults 100, Kinesis/Firehose
Limit 10000), with the API's default when absent (MSK 10, Kinesis 100, Firehose 10), and the
continuation is the API's own (nextToken; NextToken or ExclusiveStartStreamName + HasMoreStreams;
ExclusiveStartDeliveryStreamName + HasMoreDeliveryStreams).  Every tenth resource is deliberately
non-compliant so the report has FAILs too.

Binds 127.0.0.1 on a free port, prints "PORT <n>", counts requests (GET /__count answers
{"requests": n} without delay) and runs until killed.  Unknown calls get HTTP 400.
"""
import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ACCOUNT = "111122223333"
CRED_RE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


class Estate:
    def __init__(self, args):
        self.region = args.region
        self.clusters = ["c%05d" % i for i in range(args.clusters)]
        self.streams = ["s%05d" % i for i in range(args.streams)]
        self.firehoses = ["f%05d" % i for i in range(args.firehoses)]
        self.delay = args.delay_ms / 1000.0
        self.count = 0
        self.lock = threading.Lock()

    def key_arn(self, name):
        return "arn:aws:kms:%s:%s:key/%s-0000-0000-0000-000000000000" % (self.region, ACCOUNT,
                                                                          name)

    def cluster(self, i, name):
        bad = i % 10 == 9
        return {
            "ClusterArn": "arn:aws:kafka:%s:%s:cluster/%s/%s-1" % (self.region, ACCOUNT, name, name),
            "ClusterName": name, "ClusterType": "PROVISIONED", "State": "ACTIVE",
            "Provisioned": {
                "CurrentBrokerSoftwareInfo": {"KafkaVersion": "2.2.1" if bad else "3.6.0"},
                "EncryptionInfo": {
                    "EncryptionAtRest": {"DataVolumeKMSKeyId": self.key_arn(name)},
                    "EncryptionInTransit": {"ClientBroker": "TLS", "InCluster": True}},
                "ClientAuthentication": {
                    "Tls": {"Enabled": True, "CertificateAuthorityArnList": [
                        "arn:aws:acm-pca:%s:%s:certificate-authority/ca" % (self.region,
                                                                            ACCOUNT)]},
                    "Unauthenticated": {"Enabled": False}},
                "NumberOfBrokerNodes": 3}}


def page(items, start_index, limit):
    return items[start_index:start_index + limit], start_index + limit < len(items)


def lower_first(obj):
    """MSK's REST-JSON wire shape uses lowerCamel names (botocore maps them to UpperCamel)."""
    if isinstance(obj, dict):
        return {k[0].lower() + k[1:]: lower_first(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [lower_first(v) for v in obj]
    return obj


def clamp(value, default, maximum):
    try:
        v = int(value) if value is not None else default
    except (TypeError, ValueError):
        return None
    return v if 1 <= v <= maximum else None


def answer(est, region, target, path, query, body):
    """(status, body) for one request."""
    if region != est.region:
        return 200, empty_answer(target, path)
    if target is None and path == "/api/v2/clusters":
        limit = clamp(query.get("maxResults"), 10, 100)
        if limit is None:
            return 400, {"message": "maxResults must be 1..100"}
        start = int(query.get("nextToken", "0"))
        names, more = page(est.clusters, start, limit)
        out = {"clusterInfoList": [lower_first(est.cluster(start + i, n))
                                   for i, n in enumerate(names)]}
        if more:
            out["nextToken"] = str(start + limit)
        return 200, out
    if target is None and path == "/v1/kafka-versions":
        # ListKafkaVersions (msk.kafka_version reads DEPRECATED): the two versions the
        # clusters run, one page.
        return 200, {"kafkaVersions": [{"version": "2.2.1", "status": "DEPRECATED"},
                                       {"version": "3.6.0", "status": "ACTIVE"}]}
    if target == "Kinesis_20131202.ListStreams":
        limit = clamp(body.get("Limit"), 100, 10000)
        if limit is None:
            return 400, {"__type": "ValidationException", "message": "Limit"}
        if "NextToken" in body:
            start = int(body["NextToken"])
        elif "ExclusiveStartStreamName" in body:
            start = est.streams.index(body["ExclusiveStartStreamName"]) + 1
        else:
            start = 0
        names, more = page(est.streams, start, limit)
        out = {"StreamNames": names, "HasMoreStreams": more}
        if more:
            out["NextToken"] = str(start + limit)
        return 200, out
    if target == "Kinesis_20131202.DescribeStreamSummary":
        name = body.get("StreamName")
        if name not in est.streams:
            return 400, {"__type": "ResourceNotFoundException", "message": str(name)}
        bad = int(name[1:]) % 10 == 9
        return 200, {"StreamDescriptionSummary": {
            "StreamName": name,
            "StreamARN": "arn:aws:kinesis:%s:%s:stream/%s" % (est.region, ACCOUNT, name),
            "StreamStatus": "ACTIVE", "EncryptionType": "NONE" if bad else "KMS",
            **({} if bad else {"KeyId": est.key_arn(name)}),
            "OpenShardCount": 1, "RetentionPeriodHours": 24,
            "StreamCreationTimestamp": 1700000000}}
    if target == "Firehose_20150804.ListDeliveryStreams":
        limit = clamp(body.get("Limit"), 10, 10000)
        if limit is None:
            return 400, {"__type": "ValidationException", "message": "Limit"}
        after = body.get("ExclusiveStartDeliveryStreamName")
        start = est.firehoses.index(after) + 1 if after else 0
        names, more = page(est.firehoses, start, limit)
        return 200, {"DeliveryStreamNames": names, "HasMoreDeliveryStreams": more}
    if target == "Firehose_20150804.DescribeDeliveryStream":
        name = body.get("DeliveryStreamName")
        if name not in est.firehoses:
            return 400, {"__type": "ResourceNotFoundException", "message": str(name)}
        bad = int(name[1:]) % 10 == 9
        enc = {"Status": "DISABLED"} if bad else {
            "Status": "ENABLED", "KeyType": "CUSTOMER_MANAGED_CMK", "KeyARN": est.key_arn(name)}
        return 200, {"DeliveryStreamDescription": {
            "DeliveryStreamName": name,
            "DeliveryStreamARN": "arn:aws:firehose:%s:%s:deliverystream/%s" % (est.region,
                                                                                ACCOUNT, name),
            "DeliveryStreamStatus": "ACTIVE", "DeliveryStreamType": "DirectPut",
            "DeliveryStreamEncryptionConfiguration": enc, "VersionId": "1",
            "Destinations": [], "HasMoreDestinations": False}}
    if target and target.startswith("TrentService."):
        key = str(body.get("KeyId", ""))
        m = re.search(r"key/([a-z]\d{5})-", key)
        if m is None:
            return 400, {"__type": "NotFoundException", "message": key}
        name = m.group(1)
        bad = int(name[1:]) % 10 == 9
        if target == "TrentService.DescribeKey":
            return 200, {"KeyMetadata": {
                "KeyId": key.rsplit("/", 1)[1], "Arn": key, "AWSAccountId": ACCOUNT,
                "KeyManager": "CUSTOMER", "KeyState": "Enabled", "Enabled": True,
                "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT",
                "CreationDate": 1700000000}}
        if target == "TrentService.GetKeyRotationStatus":
            return 200, {"KeyRotationEnabled": not bad}
        if target == "TrentService.GetKeyPolicy":
            policy = {"Version": "2012-10-17", "Statement": [{
                "Sid": "root", "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCOUNT},
                "Action": "kms:*", "Resource": "*"}]}
            return 200, {"Policy": json.dumps(policy), "PolicyName": "default"}
    return 400, {"__type": "UnknownOperationException", "message": "%s %s" % (target, path)}


def empty_answer(target, path):
    """Other regions hold nothing."""
    if target is None and path == "/api/v2/clusters":
        return {"clusterInfoList": []}
    if target == "Kinesis_20131202.ListStreams":
        return {"StreamNames": [], "HasMoreStreams": False}
    if target is None and path == "/v1/kafka-versions":
        return {"kafkaVersions": []}
    if target == "Firehose_20150804.ListDeliveryStreams":
        return {"DeliveryStreamNames": [], "HasMoreDeliveryStreams": False}
    return {}


def make_handler(est):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per answer and no Nagle: headers and body in separate segments would stall
        # a keep-alive client on delayed ACKs (40 ms) and measure the fake, not the client.
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):
            pass

        def _reply(self, status, body, json_type):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", json_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            if url.path == "/__count":
                with est.lock:
                    n = est.count
                self._reply(200, {"requests": n}, "application/json")
                return
            with est.lock:
                est.count += 1
            time.sleep(est.delay)
            m = CRED_RE.search(self.headers.get("Authorization", ""))
            target = self.headers.get("X-Amz-Target")
            json_type = "application/x-amz-json-1.1" if target else "application/json"
            if m is None:
                self._reply(403, {"__type": "MissingAuthenticationTokenException",
                                  "message": "no SigV4 Authorization header"}, json_type)
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._reply(400, {"__type": "SerializationException", "message": "bad JSON"},
                            json_type)
                return
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            status, out = answer(est, m.group(1), target, url.path, query, body)
            self._reply(status, out, json_type)

        def do_POST(self):
            self._handle()

        def do_GET(self):
            self._handle()

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--firehoses", type=int, default=1000)
    ap.add_argument("--delay-ms", type=float, default=50)
    ap.add_argument("--region", default="us-east-1")
    args = ap.parse_args()
    est = Estate(args)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(est))
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
