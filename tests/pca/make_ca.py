#!/usr/bin/env python3
"""Create AWS Private CAs in moto (or any acm-pca endpoint) for the aws-pca backend tests.

Usage: make_ca.py ENDPOINT_URL KIND...
KIND is one of:
  root        a ROOT CA activated the way AWS documents it: GetCertificateAuthorityCsr, then
              IssueCertificate with the RootCACertificate/V1 template against the CA itself,
              GetCertificate, ImportCertificateAuthorityCertificate.
  subordinate a SUBORDINATE CA whose CSR is signed by a root key made here (outside the service),
              imported with that root as CertificateChain.
  disabled    a root CA as above, then UpdateCertificateAuthority Status=DISABLED.
Prints one line "KIND ARN" per KIND.  Credentials and region come from the environment.
"""

import datetime
import os
import sys

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT_TEMPLATE = "arn:aws:acm-pca:::template/RootCACertificate/V1"


def ca_config(cn):
    return {
        "KeyAlgorithm": "RSA_2048",
        "SigningAlgorithm": "SHA256WITHRSA",
        "Subject": {"CommonName": cn, "Organization": "mskpki tests"},
    }


def make_root(pca, cn):
    arn = pca.create_certificate_authority(
        CertificateAuthorityConfiguration=ca_config(cn),
        CertificateAuthorityType="ROOT",
    )["CertificateAuthorityArn"]
    csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    cert_arn = pca.issue_certificate(
        CertificateAuthorityArn=arn,
        Csr=csr.encode(),
        SigningAlgorithm="SHA256WITHRSA",
        TemplateArn=ROOT_TEMPLATE,
        Validity={"Type": "YEARS", "Value": 1},
    )["CertificateArn"]
    cert = pca.get_certificate(CertificateAuthorityArn=arn, CertificateArn=cert_arn)["Certificate"]
    pca.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn, Certificate=cert.encode()
    )
    return arn


def make_subordinate(pca):
    arn = pca.create_certificate_authority(
        CertificateAuthorityConfiguration=ca_config("mskpki test issuing CA"),
        CertificateAuthorityType="SUBORDINATE",
    )["CertificateAuthorityArn"]
    csr = x509.load_pem_x509_csr(
        pca.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"].encode()
    )
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mskpki external test root")])
    now = datetime.datetime.now(datetime.timezone.utc)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    sub = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(root_name)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    pca.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn,
        Certificate=sub.public_bytes(serialization.Encoding.PEM),
        CertificateChain=root.public_bytes(serialization.Encoding.PEM),
    )
    return arn


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    pca = boto3.client("acm-pca", endpoint_url=sys.argv[1], region_name=region)
    for kind in sys.argv[2:]:
        if kind == "root":
            arn = make_root(pca, "mskpki test root CA")
        elif kind == "subordinate":
            arn = make_subordinate(pca)
        elif kind == "disabled":
            arn = make_root(pca, "mskpki test disabled CA")
            pca.update_certificate_authority(CertificateAuthorityArn=arn, Status="DISABLED")
        else:
            sys.exit(f"make_ca.py: unknown kind {kind!r}")
        status = pca.describe_certificate_authority(CertificateAuthorityArn=arn)[
            "CertificateAuthority"
        ]["Status"]
        want = "DISABLED" if kind == "disabled" else "ACTIVE"
        if status != want:
            sys.exit(f"make_ca.py: {kind} CA {arn} is {status}, expected {want}")
        print(kind, arn, flush=True)


if __name__ == "__main__":
    main()
