#!/usr/bin/env python3
"""boto3_audit.py: the peer of `mskpkictl audit` in bench_audit.py: a plain sequential boto3
script making the same calls and the same checks (MSK CMK, version, mTLS, TLS in transit; Kinesis
and Firehose CMK; KMS rotation, state and policy), the way one would write it by hand.

  boto3_audit.py --endpoint-url URL --region R

Prints "boto3_audit findings=<n> fail=<n> calls=<n>".
"""
import argparse
import json

import boto3
import botocore.config


def version_ok(v, minimum=(2, 5, 1)):
    parts = []
    for p in v.split("."):
        if not p.isdigit():
            break
        parts.append(int(p))
    return tuple(parts) >= minimum


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint-url", required=True)
    ap.add_argument("--region", required=True)
    args = ap.parse_args()
    cfg = botocore.config.Config(retries={"mode": "standard"})
    kw = {"region_name": args.region, "endpoint_url": args.endpoint_url, "config": cfg}
    kafka, kinesis = boto3.client("kafka", **kw), boto3.client("kinesis", **kw)
    firehose, kms = boto3.client("firehose", **kw), boto3.client("kms", **kw)
    findings, fails, calls = [], 0, 0
    keys, cluster_keys = set(), set()

    def add(check, ok):
        nonlocal fails
        findings.append(check)
        fails += 0 if ok else 1

    for pg in kafka.get_paginator("list_clusters_v2").paginate(PaginationConfig={"PageSize": 100}):
        calls += 1
        for c in pg["ClusterInfoList"]:
            p = c["Provisioned"]
            enc = p["EncryptionInfo"]
            keys.add(enc["EncryptionAtRest"]["DataVolumeKMSKeyId"])
            cluster_keys.add(enc["EncryptionAtRest"]["DataVolumeKMSKeyId"])
            add("msk.kafka_version", version_ok(p["CurrentBrokerSoftwareInfo"]["KafkaVersion"]))
            tls = p.get("ClientAuthentication", {}).get("Tls", {})
            add("msk.mtls_required", tls.get("Enabled") and tls.get("CertificateAuthorityArnList"))
            tr = enc["EncryptionInTransit"]
            add("msk.tls_in_transit", tr["ClientBroker"] == "TLS" and tr["InCluster"])
    # msk.kafka_version also reads ListKafkaVersions' DEPRECATED status, once per region.
    kafka.list_kafka_versions()
    calls += 1
    for pg in kinesis.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 100}):
        calls += 1
        for name in pg["StreamNames"]:
            s = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
            calls += 1
            add("kinesis.encryption_cmk", s["EncryptionType"] == "KMS")
            if s["EncryptionType"] == "KMS":
                keys.add(s["KeyId"])
    start = None
    while True:
        req = {"Limit": 100}
        if start:
            req["ExclusiveStartDeliveryStreamName"] = start
        pg = firehose.list_delivery_streams(**req)
        calls += 1
        for name in pg["DeliveryStreamNames"]:
            d = firehose.describe_delivery_stream(DeliveryStreamName=name)
            calls += 1
            enc = d["DeliveryStreamDescription"]["DeliveryStreamEncryptionConfiguration"]
            ok = enc["Status"] == "ENABLED" and enc.get("KeyType") == "CUSTOMER_MANAGED_CMK"
            add("firehose.encryption_cmk", ok)
            if ok:
                keys.add(enc["KeyARN"])
            start = name
        if not pg["HasMoreDeliveryStreams"]:
            break
    for key in sorted(keys):
        md = kms.describe_key(KeyId=key)["KeyMetadata"]
        calls += 1
        if key in cluster_keys:
            add("msk.encryption_at_rest_cmk", md["KeyManager"] == "CUSTOMER")
        if md["KeyManager"] != "CUSTOMER":
            continue
        add("kms.key_state", md["KeyState"] == "Enabled")
        rot = kms.get_key_rotation_status(KeyId=md["Arn"])
        calls += 1
        add("kms.key_rotation", rot["KeyRotationEnabled"])
        pol = json.loads(kms.get_key_policy(KeyId=md["Arn"], PolicyName="default")["Policy"])
        calls += 1
        public = any(s.get("Effect") == "Allow" and s.get("Principal") in ("*", {"AWS": "*"})
                     and not s.get("Condition") for s in pol["Statement"])
        add("kms.key_policy_public", not public)
    print("boto3_audit findings=%d fail=%d calls=%d" % (len(findings), fails, calls), flush=True)


if __name__ == "__main__":
    main()
