#!/usr/bin/env python3
"""moto_general_purpose.py PORT_FILE: tests/support/moto_server.py with AWS's default UsageMode.

moto 5 makes every Private CA SHORT_LIVED_CERTIFICATE (at most 7 days) and ignores UsageMode,
where AWS defaults to GENERAL_PURPOSE.  The agent refuses a 30-day request to a short-lived CA
before it sends it, so the smallest config (validity defaults to 30d) could not be tested
against moto as it stands.  Here the CA takes AWS's default, nothing else changes."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from moto.acmpca import models  # noqa: E402

import moto_server  # noqa: E402

_init = models.CertificateAuthority.__init__


def _general_purpose(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.usage_mode = "GENERAL_PURPOSE"


models.CertificateAuthority.__init__ = _general_purpose

if __name__ == "__main__":
    moto_server.main()
