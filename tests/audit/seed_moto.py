#!/usr/bin/env python3
"""seed_moto.py: creates the audit test estate in a moto server and returns what it made.

Usage as a script: seed_moto.py http://127.0.0.1:PORT  -> prints the JSON of seed() on stdout.
Credentials are the fake ones from the environment (AWS_ACCESS_KEY_ID=testing ...).

moto supports what is used here: MSK create_cluster (v1: the only call that keeps encryption and
client-authentication settings) and create_cluster_v2 for serverless, Kinesis
start_stream_encryption, Firehose start_delivery_stream_encryption, KMS keys with rotation on/off,
disabled, pending deletion and a public key policy.  Everything moto lacks (AWS-managed keys,
AccessDenied, pagination) is covered by fake_aws.py instead.
"""
import datetime
import json
import sys

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

CA_ARN = ("arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/"
          "11111111-2222-4333-8444-555555555555")
OTHER_ROLE = "arn:aws:iam::210987654321:role/mskpki-audit"
PUBLIC_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Sid": "OpenToEveryone", "Effect": "Allow", "Principal": "*",
                   "Action": "kms:*", "Resource": "*"}],
})
BROKERS = {"InstanceType": "kafka.m5.large", "ClientSubnets": ["subnet-0a1", "subnet-0b2"]}
S3_DEST = {"RoleARN": "arn:aws:iam::123456789012:role/firehose",
           "BucketARN": "arn:aws:s3:::mskpki-audit-test"}


def _clients(endpoint, region):
    kw = {"endpoint_url": endpoint, "region_name": region}
    return (boto3.client("kms", **kw), boto3.client("kafka", **kw),
            boto3.client("kinesis", **kw), boto3.client("firehose", **kw))


def _ca(pca, cn, days, status=None):
    """A Private CA made ACTIVE by importing a certificate for its CSR valid for `days` (moto
    checks only that it parses, so our own key signs it); then optionally another status."""
    arn = pca.create_certificate_authority(
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "RSA_2048", "SigningAlgorithm": "SHA256WITHRSA",
            "Subject": {"CommonName": cn}},
        CertificateAuthorityType="ROOT")["CertificateAuthorityArn"]
    csr = x509.load_pem_x509_csr(
        pca.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"].encode())
    signer = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(csr.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(signer, hashes.SHA256()))
    pca.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn, Certificate=cert.public_bytes(serialization.Encoding.PEM))
    if status:
        pca.update_certificate_authority(CertificateAuthorityArn=arn, Status=status)
    return arn


def _key(kms, rotation=True):
    meta = kms.create_key(Description="mskpki audit test")["KeyMetadata"]
    if rotation:
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    return meta


def seed(endpoint):
    kms, kafka, kinesis, firehose = _clients(endpoint, "us-east-1")
    keys = {
        "good": _key(kms),
        "norot": _key(kms, rotation=False),
        "disabled": _key(kms),
        "pending": _key(kms),
        "public": _key(kms),
    }
    kms.disable_key(KeyId=keys["disabled"]["KeyId"])
    kms.schedule_key_deletion(KeyId=keys["pending"]["KeyId"], PendingWindowInDays=7)
    kms.put_key_policy(KeyId=keys["public"]["KeyId"], PolicyName="default", Policy=PUBLIC_POLICY)
    kms.create_alias(AliasName="alias/audit-public", TargetKeyId=keys["public"]["KeyId"])

    pca = boto3.client("acm-pca", endpoint_url=endpoint, region_name="us-east-1")
    cas = {"active": _ca(pca, "audit active", 3650), "expiring": _ca(pca, "audit expiring", 30),
           "disabled": _ca(pca, "audit disabled", 3650, "DISABLED"), "missing": CA_ARN}

    clusters = {}
    clusters["good"] = kafka.create_cluster(
        ClusterName="audit-good", KafkaVersion="3.5.1", NumberOfBrokerNodes=3,
        BrokerNodeGroupInfo=BROKERS,
        EncryptionInfo={"EncryptionAtRest": {"DataVolumeKMSKeyId": keys["good"]["Arn"]},
                        "EncryptionInTransit": {"ClientBroker": "TLS", "InCluster": True}},
        ClientAuthentication={"Tls": {"CertificateAuthorityArnList": [cas["active"]],
                                      "Enabled": True},
                              "Unauthenticated": {"Enabled": False}},
        Tags={"Owner": "team-a", "CostCenter": "42"})["ClusterArn"]
    clusters["bad"] = kafka.create_cluster(
        ClusterName="audit-bad", KafkaVersion="2.2.1", NumberOfBrokerNodes=3,
        BrokerNodeGroupInfo=BROKERS,
        EncryptionInfo={"EncryptionInTransit": {"ClientBroker": "TLS_PLAINTEXT",
                                                "InCluster": False}})["ClusterArn"]
    clusters["tiered"] = kafka.create_cluster(
        ClusterName="audit-tiered", KafkaVersion="2.8.2.tiered", NumberOfBrokerNodes=3,
        BrokerNodeGroupInfo=BROKERS,
        EncryptionInfo={"EncryptionAtRest": {"DataVolumeKMSKeyId": keys["disabled"]["Arn"]},
                        "EncryptionInTransit": {"ClientBroker": "TLS", "InCluster": True}},
        ClientAuthentication={"Tls": {"CertificateAuthorityArnList": [CA_ARN, cas["expiring"]],
                                      "Enabled": True},
                              "Unauthenticated": {"Enabled": True}},
        Tags={"Owner": "team-b"})["ClusterArn"]
    clusters["serverless"] = kafka.create_cluster_v2(
        ClusterName="audit-serverless",
        Serverless={"VpcConfigs": [{"SubnetIds": ["subnet-0a1"]}],
                    "ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}}})["ClusterArn"]

    streams = {}
    for name, key in (("s-plain", None), ("s-awsalias", "alias/aws/kinesis"),
                      ("s-norot", keys["norot"]["Arn"]), ("s-public", "alias/audit-public"),
                      ("s-pending", keys["pending"]["KeyId"])):
        kinesis.create_stream(StreamName=name, ShardCount=1)
        if key is not None:
            kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=key)
        streams[name] = f"arn:aws:kinesis:us-east-1:123456789012:stream/{name}"

    deliveries = {}
    for name in ("f-none", "f-cmk", "f-owned"):
        firehose.create_delivery_stream(DeliveryStreamName=name, DeliveryStreamType="DirectPut",
                                        ExtendedS3DestinationConfiguration=S3_DEST)
        deliveries[name] = f"arn:aws:firehose:us-east-1:123456789012:deliverystream/{name}"
    firehose.start_delivery_stream_encryption(
        DeliveryStreamName="f-cmk",
        DeliveryStreamEncryptionConfigurationInput={"KeyARN": keys["good"]["Arn"],
                                                    "KeyType": "CUSTOMER_MANAGED_CMK"})
    firehose.start_delivery_stream_encryption(
        DeliveryStreamName="f-owned",
        DeliveryStreamEncryptionConfigurationInput={"KeyType": "AWS_OWNED_CMK"})
    firehose.create_delivery_stream(
        DeliveryStreamName="f-fromkinesis", DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": streams["s-norot"],
                                          "RoleARN": S3_DEST["RoleARN"]},
        ExtendedS3DestinationConfiguration=S3_DEST)
    deliveries["f-fromkinesis"] = (
        "arn:aws:firehose:us-east-1:123456789012:deliverystream/f-fromkinesis")

    # A second region, to check multi-region listing and the sort order (eu-west-1 first), and a
    # key there that a us-east-1 stream names by ARN: it must be resolved in eu-west-1.
    kms_eu, _, kinesis_eu, _ = _clients(endpoint, "eu-west-1")
    kinesis_eu.create_stream(StreamName="s-eu", ShardCount=1)
    streams["s-eu"] = "arn:aws:kinesis:eu-west-1:123456789012:stream/s-eu"
    keys["eu"] = _key(kms_eu)
    kinesis.create_stream(StreamName="s-xregion", ShardCount=1)
    kinesis.start_stream_encryption(StreamName="s-xregion", EncryptionType="KMS",
                                    KeyId=keys["eu"]["Arn"])
    streams["s-xregion"] = "arn:aws:kinesis:us-east-1:123456789012:stream/s-xregion"

    # Ownership tags (tags.ownership): some resources carry Owner and CostCenter, some only one.
    kinesis.add_tags_to_stream(StreamName="s-norot", Tags={"Owner": "team-a", "CostCenter": "7"})
    kinesis.add_tags_to_stream(StreamName="s-plain", Tags={"owner": "lower-case-key"})
    firehose.tag_delivery_stream(DeliveryStreamName="f-cmk",
                                 Tags=[{"Key": "Owner", "Value": "team-a"},
                                       {"Key": "CostCenter", "Value": "7"}])
    kms.tag_resource(KeyId=keys["good"]["KeyId"],
                     Tags=[{"TagKey": "Owner", "TagValue": "team-a"},
                           {"TagKey": "CostCenter", "TagValue": "7"}])

    # A second account, reached by assuming a role in it (moto maps the role's credentials to
    # the role's account): one cluster there.
    other = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1").assume_role(
        RoleArn=OTHER_ROLE, RoleSessionName="seed")["Credentials"]
    kafka_other = boto3.client(
        "kafka", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=other["AccessKeyId"], aws_secret_access_key=other["SecretAccessKey"],
        aws_session_token=other["SessionToken"])
    clusters["other"] = kafka_other.create_cluster(
        ClusterName="audit-other", KafkaVersion="3.6.0", NumberOfBrokerNodes=3,
        BrokerNodeGroupInfo=BROKERS)["ClusterArn"]

    return {
        "keys": {k: v["Arn"] for k, v in keys.items()},
        "clusters": clusters,
        "streams": streams,
        "deliveries": deliveries,
        "cas": cas,
    }


if __name__ == "__main__":
    print(json.dumps(seed(sys.argv[1]), indent=1))
