"""Signed sign-off tags: whether git is set up to sign one, and what ``git verify-tag`` says of one.

A sign-off tag is signed (``git tag -s``) when git has a signing key (``user.signingkey``) or signs
every tag (``tag.gpgSign``); GPG, SSH (``gpg.format ssh``) and X.509 signatures are git's business.
Verifying reads the tag object: a lightweight tag or an annotated one without a signature block is
*unsigned*; a signature that ``git verify-tag`` accepts is *good*; any other is *bad* (tampered, or
not checkable here: no public key, no ``gpg.ssh.allowedSignersFile``), with git's own words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa_gate.gitrepo import GitFailed, run

if TYPE_CHECKING:
    import git

MARKERS = ("-----BEGIN PGP SIGNATURE-----", "-----BEGIN SSH SIGNATURE-----", "-----BEGIN SIGNED MESSAGE-----")
"""How a signature block starts in a tag object: GPG, SSH, X.509 (gpgsm)."""
GOOD, UNSIGNED, BAD = "good", "unsigned", "bad"


def _config(repo: git.Repo, *args: str) -> str:
    try:
        return run(repo, "config", *args).strip()
    except GitFailed:  # not set
        return ""


def signing_configured(repo: git.Repo) -> bool:
    """Whether ``git tag -s`` has a key to sign with: ``user.signingkey`` set, or ``tag.gpgSign`` true."""
    return bool(_config(repo, "--get", "user.signingkey")) or _config(repo, "--type=bool", "--get",
                                                                        "tag.gpgSign") == "true"


@dataclass(frozen=True)
class TagSignature:
    """What a tag's signature is worth: ``good``, ``unsigned`` or ``bad``, and git's words about it."""

    state: str
    detail: str

    def describe(self) -> str:
        """One phrase for the verify line."""
        if self.state == GOOD:
            return f"signed, good signature ({self.detail})"
        if self.state == UNSIGNED:
            return f"unsigned: {self.detail}"
        return f"signature NOT verified: {self.detail}"


def _said(stderr: str, stdout: str, good: bool) -> str:
    """What git (gpg, ssh-keygen) said: the ``Good ...`` line of a good signature; of a bad one, every line
    (ssh-keygen may say "Good ... signature" and then "No principal matched")."""
    lines = [line.strip() for line in (stderr + "\n" + stdout).splitlines() if line.strip()]
    if good:
        return next((line for line in lines if "good" in line.lower()), lines[0] if lines else "no output")
    return "; ".join(lines[:4]) or "git verify-tag failed and said nothing"


def tag_signature(repo: git.Repo, tag: str) -> TagSignature:
    """Whether ``refs/tags/<tag>`` carries a signature and whether ``git verify-tag`` accepts it."""
    ref = f"refs/tags/{tag}"
    if run(repo, "cat-file", "-t", ref).strip() != "tag":
        return TagSignature(UNSIGNED, "a lightweight tag (no tag object, nothing signed)")
    if not any(marker in run(repo, "cat-file", "tag", ref) for marker in MARKERS):
        return TagSignature(UNSIGNED, "an annotated tag without a signature (git tag -a, not -s)")
    status, stdout, stderr = repo.git.verify_tag(ref, with_exceptions=False, with_extended_output=True)
    return TagSignature(GOOD if status == 0 else BAD, _said(str(stderr), str(stdout), status == 0))
