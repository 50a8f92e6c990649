"""Signed provenance written into every clip: who made it, where, with which model.

Not C2PA: a C2PA manifest needs a signing certificate chain from a trust list, which a self-hosted
install does not have. The claim is a JSON object signed with HMAC-SHA256 under a key derived from
SECRET_KEY, stored as an MP4 metadata tag. Anyone can read it; only this site can verify it, and any
change to the claim or its signature shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

from generation.encoding import read_metadata

TAG = "backlot_provenance"
ALGORITHM = "HMAC-SHA256"
_SALT = "generation.provenance"


def _canonical(claim: dict) -> str:
    return json.dumps(claim, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _signature(claim: dict) -> str:
    return salted_hmac(_SALT, _canonical(claim), algorithm="sha256").hexdigest()


def claim_for(job) -> dict:
    """The provenance claim of a rendered job: the platform, the model and its source, the job, the programme."""
    from generation.registry import MODELS

    spec = MODELS.get(job.model_key)
    source = spec.source() if spec else ""
    return {
        "platform": "Backlot",
        "site": settings.SITE_URL,
        "model": {
            "key": job.model_key,
            "label": spec.label if spec else job.model_key,
            "hub_id": spec.hub_id if spec else "",
            # A local folder is named, not its path on the server.
            "weights": source if spec and source == spec.hub_id else f"local:{source.rstrip('/').rsplit('/', 1)[-1]}",
        },
        "job": str(job.pk),
        "job_code": job.job_code,
        "programme": job.grant.programme.slug,
        "created": job.queued_at.isoformat(),
    }


def provenance_metadata(job) -> dict[str, str]:
    """The container tags that carry ``job``'s signed claim, for ``encode_mp4(metadata=...)``."""
    claim = claim_for(job)
    record = {"claim": claim, "alg": ALGORITHM, "signature": _signature(claim)}
    return {TAG: _canonical(record), "comment": f"Made with Backlot ({settings.SITE_URL}), job {job.job_code}"}


@dataclass(frozen=True)
class Provenance:
    status: str  # "valid", "missing" or "tampered"
    claim: dict | None = None

    @property
    def valid(self) -> bool:
        return self.status == "valid"

    def describe(self) -> str:
        return {
            "valid": "Signed provenance present and verified.",
            "missing": "No provenance metadata (re-encoding usually strips it).",
            "tampered": "Provenance metadata present but its signature does not verify: it was changed.",
        }[self.status]


def provenance_read(data: bytes) -> Provenance:
    """Read and verify the signed claim in an MP4's metadata."""
    raw = read_metadata(data).get(TAG)
    if not raw:
        return Provenance("missing")
    try:
        record = json.loads(raw)
        claim, signature = record["claim"], record["signature"]
    except (ValueError, KeyError, TypeError):
        return Provenance("tampered")
    if not isinstance(claim, dict) or record.get("alg") != ALGORITHM or not isinstance(signature, str):
        return Provenance("tampered")
    if not constant_time_compare(signature, _signature(claim)):
        return Provenance("tampered", claim)
    return Provenance("valid", claim)
