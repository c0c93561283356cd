#!/usr/bin/env python3
"""The IAM policies shipped in packaging/iam/ against the code that needs them (issue 7).

agent-policy.json must grant exactly the acm-pca operations ca/aws_pca.c calls, each on the
CA ARN only (never "*").  A statement conditioned on acm-pca:TemplateArn may hold only
IssueCertificate: the key is in no other request's context, and ArnEquals on an absent key is
false, so GetCertificate & co. in such a statement would be denied and the agent could never
fetch what it issued.  The template in the condition must be the one the agent sends by default.

audit-policy.json must be read-only (List/Describe/Get, cloudtrail:LookupEvents, plus
sts:AssumeRole for member accounts)
and cover every AWS operation mskpkictl audit and probe call.
"""
import json
import os
import re
import sys

SRC = os.environ.get("MSKPKI_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def read(rel):
    with open(os.path.join(SRC, rel), encoding="utf-8") as f:
        return f.read()


def statements(rel):
    doc = json.loads(read(rel))
    check(doc.get("Version") == "2012-10-17", "%s: Version is not 2012-10-17" % rel)
    out = []
    for st in doc["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        check(st.get("Effect") == "Allow", "%s: %s is not an Allow" % (rel, st.get("Sid")))
        out.append((st, actions, resources))
    return out


# ---- the agent ------------------------------------------------------------------------------
pca_src = read("ca/aws_pca.c")
called = {"acm-pca:" + op for op in re.findall(r'pca_call\([^,]+,\s*"(\w+)"', pca_src)}
check(called, "found no pca_call() in ca/aws_pca.c")
want = {"acm-pca:IssueCertificate", "acm-pca:GetCertificate",
        "acm-pca:GetCertificateAuthorityCertificate", "acm-pca:DescribeCertificateAuthority",
        "acm-pca:RevokeCertificate"}
check(called == want, "the backend calls %s, issue 7 lists %s" % (sorted(called), sorted(want)))
template = re.search(r'#define PCA_DEFAULT_TEMPLATE "([^"]+)"', pca_src).group(1)

granted = set()
for st, actions, resources in statements("packaging/iam/agent-policy.json"):
    granted |= set(actions)
    for r in resources:
        check(re.fullmatch(r"arn:aws:acm-pca:[A-Z]+:[A-Z]+:certificate-authority/[A-Z-]+", r),
              "agent policy %s: resource %r is not the CA ARN" % (st.get("Sid"), r))
    cond = st.get("Condition", {})
    for op, keys in cond.items():
        if "acm-pca:TemplateArn" in keys:
            check(actions == ["acm-pca:IssueCertificate"],
                  "agent policy %s: the TemplateArn condition would deny %s" %
                  (st.get("Sid"), [a for a in actions if a != "acm-pca:IssueCertificate"]))
            check(keys["acm-pca:TemplateArn"] == template,
                  "agent policy %s: template %s, the agent sends %s" %
                  (st.get("Sid"), keys["acm-pca:TemplateArn"], template))
            check(not op.endswith("IfExists"), "agent policy: %s makes the condition optional" % op)
check(granted == called, "agent policy grants %s, the backend calls %s" %
      (sorted(granted), sorted(called)))

# ---- audit and probe ------------------------------------------------------------------------
PREFIX = {"Kinesis_20131202": "kinesis", "Firehose_20150804": "firehose", "TrentService": "kms",
          "ACMPrivateCA": "acm-pca",
          "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101": "cloudtrail"}
# MSK is REST: the path each call uses, and the IAM action it needs.
KAFKA_PATHS = {"/api/v2/clusters": "kafka:ListClustersV2", "/v1/tags/%s": "kafka:ListTagsForResource",
               "/v1/clusters/%s/bootstrap-brokers": "kafka:GetBootstrapBrokers",
               "/v1/kafka-versions": "kafka:ListKafkaVersions",
               "/v1/configurations/%s/revisions/%lld": "kafka:DescribeConfigurationRevision"}
needed = set()
for rel in ("ctl/audit/aws.c", "ctl/audit/pca.c", "ctl/probe/probe.c"):
    if not os.path.exists(os.path.join(SRC, rel)):
        continue
    text = read(rel)
    for svc, op in re.findall(r'"(%s)\.(\w+)"' % "|".join(map(re.escape, PREFIX)), text):
        needed.add("%s:%s" % (PREFIX[svc], op))
    for path in re.findall(r'"(/(?:api|v\d)/[^"]*)"', text):
        check(path in KAFKA_PATHS, "%s calls MSK %s: add its IAM action to this test" % (rel, path))
        if path in KAFKA_PATHS:
            needed.add(KAFKA_PATHS[path])
check(len(needed) >= 10, "found only %s in ctl/" % sorted(needed))

granted = set()
for st, actions, resources in statements("packaging/iam/audit-policy.json"):
    granted |= set(actions)
    for a in actions:
        verb = a.split(":", 1)[1]
        # cloudtrail:LookupEvents reads the event history (the KMS AccessDenied KPI).
        check(re.match(r"(List|Describe|Get)", verb) or a in ("sts:AssumeRole",
                                                                "cloudtrail:LookupEvents"),
              "audit policy %s: %s is not read-only" % (st.get("Sid"), a))
check(needed <= granted, "audit policy lacks %s" % sorted(needed - granted))

if failures:
    print("\n".join("FAIL: " + f for f in failures), file=sys.stderr)
    sys.exit(1)
print("iam policies: ok (agent %d actions, audit/probe %d needed)" % (len(called), len(needed)))
