"""Content Credentials (C2PA) on every clip: a manifest saying the clip was made by a trained model, with
which model, in which programme and by which job, bound to the clip's bytes and signed offline with the
operator's certificate. Any C2PA validator reads it; the invisible mark is what still names the job once a
copy has lost its metadata (a re-encode, a screen recording).

The hard binding is c2pa's BMFF hash (``c2pa.hash.bmff.v3``) over every top-level box but the manifest's own,
so a changed, cut or appended byte in the media shows as tampering.
"""

from __future__ import annotations

import datetime
import io
import os
import stat
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core import checks

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
JOB_ASSERTION = "org.backlot.job"
MIME = "video/mp4"
C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")  # the extended type of the manifest's uuid box
DEV_FILES = {"anchor": "dev-ca.pem", "chain": "dev-chain.pem", "key": "dev-signer.key"}
# Offline: no remote manifests, no OCSP. Trust comes only from the SDK's own list and the configured anchors.
_VERIFY = {"remote_manifest_fetch": False, "ocsp_fetch": False}
# No thumbnail: a validator shows the clip itself; a JPEG frame in every manifest would only add bytes.
_NO_THUMBNAIL = {"thumbnail": {"enabled": False}}


class CredentialsError(Exception):
    """The signing certificate or key cannot be used; the message says what to fix."""


# --- Signing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    chain: bytes  # PEM: the signing certificate first, then any intermediates (not the root)
    key: bytes
    algorithm: str
    tsa_url: str = ""


def key_file_check(path: Path) -> None:
    """Refuse a private key that anyone but its owner may read: a leaked key signs clips as this site."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"The C2PA signing key {path} is readable by others (mode {stat.S_IMODE(mode):03o}); run chmod 600 {path}."
        )


def signing_key() -> SigningKey | None:
    """The configured certificate chain and key, checked; None when none is configured (clips go unsigned)."""
    chain_path, key_path = settings.BACKLOT_C2PA_CERT_CHAIN, settings.BACKLOT_C2PA_KEY
    if not chain_path and not key_path:
        return None
    if not (chain_path and key_path):
        raise CredentialsError("Set both BACKLOT_C2PA_CERT_CHAIN and BACKLOT_C2PA_KEY, or neither.")
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        key_file_check(Path(key_path))
        chain, key = Path(chain_path).read_bytes(), Path(key_path).read_bytes()
    except OSError as error:
        raise CredentialsError(f"Cannot read {error.filename}: {error.strerror}.") from None
    try:
        certificate = x509.load_pem_x509_certificates(chain)[0]
    except ValueError:
        raise CredentialsError(f"{chain_path} holds no PEM certificate.") from None
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError):
        raise CredentialsError(f"{key_path} is not an unencrypted PEM private key.") from None
    if private.public_key() != certificate.public_key():
        raise CredentialsError(f"The key in {key_path} does not belong to the first certificate in {chain_path}.")
    return SigningKey(chain, key, _algorithm(private), settings.BACKLOT_C2PA_TSA_URL)


def _algorithm(private) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(private, ec.EllipticCurvePrivateKey):
        named = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(private.curve.name)
        if named:
            return named
    if isinstance(private, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise CredentialsError("C2PA signs with ECDSA (P-256, P-384, P-521), RSA-PSS or Ed25519 keys only.")


def manifest_for(job) -> dict:
    """The manifest of a rendered job: created by a trained model, which model, which programme, which job."""
    from generation.registry import MODELS

    spec = MODELS.get(job.model_key)
    source = spec.source() if spec else ""
    model = {
        "key": job.model_key,
        "label": spec.label if spec else job.model_key,
        "hub_id": spec.hub_id if spec else "",
        # A local folder is named, not its path on the server.
        "weights": source if spec and source == spec.hub_id else f"local:{source.rstrip('/').rsplit('/', 1)[-1]}",
    }
    return {
        "claim_generator_info": [{"name": "Backlot", "version": "1"}],
        "title": f"{job.job_code}.mp4",
        "format": MIME,
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": DIGITAL_SOURCE_TYPE,
                            "softwareAgent": {"name": model["label"], "version": model["weights"]},
                            "when": job.queued_at.isoformat(),
                        }
                    ]
                },
            },
            {
                "label": JOB_ASSERTION,
                "data": {
                    "site": settings.SITE_URL,
                    "job_code": job.job_code,
                    "programme": job.grant.programme.slug,
                    "model": model,
                    "created": job.queued_at.isoformat(),
                },
            },
        ],
    }


def credentials_sign(data: bytes, job, *, key: SigningKey | None = None) -> bytes:
    """``data`` (an MP4) with ``job``'s manifest embedded and signed; unchanged when no key is configured.
    The result is checked to still be a fast-start MP4."""
    import c2pa

    key = key or signing_key()
    if key is None:
        return data
    # c2pa verifies what it signed (signature, binding, the certificate's key usages) but not trust here:
    # a development or private CA is not on its list, and the trace is where trust is judged.
    context = c2pa.Context.from_dict({"verify": {**_VERIFY, "verify_trust": False}, "builder": _NO_THUMBNAIL})
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(key.algorithm, key.chain, key.key, key.tsa_url or None))
    signed = io.BytesIO()
    try:
        with c2pa.Builder(manifest_for(job), context=context) as builder:
            builder.sign(signer, MIME, io.BytesIO(data), signed)
    except c2pa.C2paError as error:
        raise CredentialsError(f"c2pa refused to sign it ({error}).") from None
    finally:
        signer.close()
        context.close()
    result = signed.getvalue()
    fast_start_check(result)
    return result


# --- The MP4's layout -----------------------------------------------------------------------------


def top_level_boxes(data: bytes) -> list[str]:
    """The types of an MP4's top-level boxes, in file order; raises ValueError for a broken layout."""
    boxes, offset = [], 0
    while offset < len(data):
        if offset + 8 > len(data):
            raise ValueError(f"A box header is cut short at byte {offset}.")
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        elif size == 0:
            size = len(data) - offset
        if size < 8 or offset + size > len(data):
            raise ValueError(f"The {kind.decode('latin-1')} box at byte {offset} runs past the end of the file.")
        boxes.append(kind.decode("latin-1"))
        offset += size
    return boxes


def fast_start_check(data: bytes) -> None:
    """Refuse an MP4 a browser cannot stream while loading: one index (moov) before the media, no fragments."""
    boxes = top_level_boxes(data)
    if boxes.count("moov") != 1 or "mdat" not in boxes or boxes.index("moov") > boxes.index("mdat"):
        raise CredentialsError(f"The signed clip is not a fast-start MP4 (boxes {' '.join(boxes)}).")
    if "moof" in boxes:
        raise CredentialsError("The signed clip became a fragmented MP4.")


# --- Reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    status: str  # "valid", "untrusted", "expired", "tampered" or "absent"
    job_code: str = ""
    programme: str = ""
    model: str = ""
    signer: str = ""  # the signing certificate's common name and issuer
    failures: tuple[str, ...] = ()  # c2pa validation status codes that failed

    @property
    def verified(self) -> bool:
        """The manifest and its binding to these bytes check out (whether or not the signer is trusted)."""
        return self.status in ("valid", "untrusted", "expired")

    def describe(self) -> str:
        failures = ", ".join(self.failures)
        return {
            "valid": f"Content Credentials valid, signed by {self.signer}.",
            "untrusted": (
                f"Content Credentials intact but signed by {self.signer}, which is not a trusted signer "
                "(not on the C2PA trust list nor among the configured anchors)."
            ),
            "expired": (
                f"Content Credentials intact, but the certificate of {self.signer} has expired and no trusted "
                "timestamp shows it was signed while the certificate was valid."
            ),
            "tampered": f"Content Credentials present but the clip or the manifest was changed ({failures}).",
            "absent": "No Content Credentials (a re-encode or a screen recording drops them).",
        }[self.status]


# What c2pa reports for an intact clip whose signing certificate has expired since (no timestamp authority).
_EXPIRY_ONLY = {"signingCredential.expired", "signingCredential.untrusted"}


def _reader_context():
    import c2pa

    config = {"verify": dict(_VERIFY)}
    anchors = settings.BACKLOT_C2PA_TRUST_ANCHORS
    if anchors:
        try:
            config["trust"] = {"user_anchors": Path(anchors).read_text()}
        except (OSError, UnicodeDecodeError) as error:
            raise CredentialsError(f"Cannot read the C2PA trust anchors {anchors}: {error}.") from None
    return c2pa.Context.from_dict(config)


def credentials_read(data: bytes) -> Credentials:
    """Read and validate the C2PA manifest of an MP4: its signature, its hard binding to these bytes, and
    whether its signer chains to a trusted anchor."""
    import c2pa

    if data[4:8] != b"ftyp":
        return Credentials("absent")  # Backlot signs MP4s only; c2pa reads no WebM
    context = _reader_context()
    try:
        reader = c2pa.Reader.try_create(MIME, io.BytesIO(data), None, context)
    except c2pa.C2paError as error:
        if C2PA_UUID not in data:
            return Credentials("absent")  # not an MP4 c2pa can parse, and no manifest box in it
        # A manifest box is there but cannot even be parsed: as good as forged.
        return Credentials("tampered", failures=(str(error).split(":", 1)[0] or "unreadable",))
    finally:
        context.close()
    if reader is None:
        return Credentials("absent")
    with reader:
        state = reader.get_validation_state()
        results = (reader.get_validation_results() or {}).get("activeManifest") or {}
        manifest = reader.get_active_manifest() or {}
    failures = tuple(item["code"] for item in results.get("failure", []))
    ours = next((a.get("data") for a in manifest.get("assertions", []) if a.get("label") == JOB_ASSERTION), None)
    ours = ours if isinstance(ours, dict) else {}
    model = ours.get("model") if isinstance(ours.get("model"), dict) else {}
    signature = manifest.get("signature_info") or {}
    status = {"Trusted": "valid", "Valid": "untrusted"}.get(state, "tampered")
    if status == "tampered" and "signingCredential.expired" in failures and set(failures) <= _EXPIRY_ONLY:
        status = "expired"  # bytes and manifest intact; only the certificate's dates (and so its trust) fail
    return Credentials(
        status=status,
        job_code=str(ours.get("job_code", "")),
        programme=str(ours.get("programme", "")),
        model=str(model.get("key", "")),
        signer=f"{signature.get('common_name', '?')} (issued by {signature.get('issuer', '?')})",
        failures=failures if status == "tampered" else (),
    )


# --- A development CA -----------------------------------------------------------------------------


def dev_ca_create(folder: Path, *, force: bool = False, days: float = 825) -> dict[str, Path]:
    """Make a development root CA and a signing certificate it issued, in ``folder``: the root to trust
    (dev-ca.pem), the chain to sign with (dev-chain.pem) and its key (dev-signer.key, mode 600). Public
    validators show clips signed with it as untrusted. Refuses to replace existing files unless ``force``;
    on any failure nothing is left changed."""
    import secrets

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    paths = {role: folder / name for role, name in DEV_FILES.items()}
    existing = [str(path) for path in paths.values() if path.exists()]
    if existing and not force:
        raise CredentialsError(f"{', '.join(existing)} already exist; pass --force to replace them.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CredentialsError(f"Cannot create {folder}: {error.strerror}.") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CredentialsError(f"{folder} is not writable.")

    now = datetime.datetime.now(datetime.UTC)
    tag = secrets.token_hex(3)

    def name(common: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Backlot development"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{common} {tag}"),
            ]
        )

    def usage(*, signs: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=signs,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=not signs,
            crl_sign=not signs,
            encipher_only=False,
            decipher_only=False,
        )

    ca_key, signer_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(name("Backlot development CA"))
        .issuer_name(name("Backlot development CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(signs=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    # C2PA's validators want a leaf that is no CA, signs (digitalSignature) and names an accepted purpose.
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("Backlot development signer"))
        .issuer_name(root.subject)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(signs=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    contents = {
        "anchor": root.public_bytes(serialization.Encoding.PEM),
        "chain": leaf.public_bytes(serialization.Encoding.PEM),
        "key": signer_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    }
    staged: dict[str, str] = {}
    try:
        for role, content in contents.items():
            handle, staged[role] = tempfile.mkstemp(dir=folder, prefix=".dev-ca-")
            with os.fdopen(handle, "wb") as out:  # mkstemp makes it 600: the key is never readable by others
                out.write(content)
            if role != "key":
                os.chmod(staged[role], 0o644)
        for role, temporary in staged.items():
            os.replace(temporary, paths[role])
    except OSError as error:
        for temporary in staged.values():
            Path(temporary).unlink(missing_ok=True)
        raise CredentialsError(f"Cannot write in {folder}: {error.strerror}.") from None
    return paths


# --- The system check -----------------------------------------------------------------------------


@checks.register()
def credentials_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Say at startup when clips will go unsigned or cannot be signed (a key others can read, say)."""
    try:
        key = signing_key()
        if settings.BACKLOT_C2PA_TRUST_ANCHORS:
            _reader_context().close()
    except CredentialsError as error:
        return [checks.Error(str(error), id="generation.E001")]
    if key is None:
        return [
            checks.Warning(
                "No C2PA signing certificate is configured: clips carry no Content Credentials.",
                hint="Set BACKLOT_C2PA_CERT_CHAIN and BACKLOT_C2PA_KEY, or for development run "
                "`manage.py credentials_dev_ca` and point them at its files.",
                id="generation.W001",
            )
        ]
    return []
