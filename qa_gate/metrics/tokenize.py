"""The inputs of the captioning metrics and the pycocoevalcap Java tools they run (DESIGN.md §4).

- ``CaptionInputs`` / ``TokenizedCaptions``: what ``qa_gate.metrics.text`` reads; build a
  ``TokenizedCaptions`` once per suite so the Java tokenizer runs once, not once per metric.
- ``tokenize_captions``: pycocoevalcap's ``PTBTokenizer`` (Stanford CoreNLP 3.4.1,
  ``-preserveLines -lowerCase``, then its ``PUNCTUATIONS`` dropped), same jar, one Java
  call per suite. Two robustness fixes change nothing on well-formed text: every line
  break the Java lexer knows (``\\r``, form feed, ...) becomes a space, not only ``\\n``,
  and the number of lines that come back is checked, so one odd caption can never shift
  the captions of the samples after it. ``-lowerCase`` turns ``-LRB-`` into ``-lrb-``,
  which pycocoevalcap's upper-case punctuation list keeps; so do we, to match its numbers.
- ``meteor_jar``: one shared ``meteor-1.5.jar -stdio`` process, pycocoevalcap's command.
"""

from __future__ import annotations

import atexit
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from qa_gate.errors import GateError

TOKENIZER = "ptb (pycocoevalcap, Stanford CoreNLP 3.4.1), lower-case, punctuation removed"
PUNCTUATIONS = frozenset(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                          ".", "?", "!", ",", ":", "-", "--", "...", ";"])
_LINE_BREAKS = re.compile("[\r\n\x0b\x0c\u2028\u2029]")
_PTB_CLASS = "edu.stanford.nlp.process.PTBTokenizer"
STAGES = ("exact", "stem", "synonym", "paraphrase")
METEOR_STATS = ("test_len", "ref_len", "test_function", "ref_function",
                *(f"{stage}_{part}" for stage in STAGES for part in
                  ("test_content", "ref_content", "test_function", "ref_function")),
                "chunks", "test_word_matches", "ref_word_matches")


class JavaMissingError(GateError):
    """``java`` is not on PATH, but the PTB tokenizer or METEOR needs it."""


class CaptionError(GateError, ValueError):
    """A sample's predicted caption or references cannot be scored."""


def java_executable(purpose: str) -> str:
    """The ``java`` on PATH; a ``JavaMissingError`` naming ``purpose`` otherwise."""
    java = shutil.which("java")
    if java is None:
        raise JavaMissingError(f"Java is required for {purpose}; install a JRE "
                               "(no 'java' found on PATH)")
    return java


def pycocoevalcap_dir() -> Path:
    """The installed pycocoevalcap package folder, which holds the jars we run."""
    try:
        import pycocoevalcap  # a namespace package: no __file__
    except ImportError:
        pycocoevalcap = None
    for folder in getattr(pycocoevalcap, "__path__", ()):
        if (Path(folder) / "meteor" / "meteor-1.5.jar").is_file():
            return Path(folder).resolve()
    raise GateError("the captioning metrics need the jars of pycocoevalcap: "
                    "pip install 'pycocoevalcap>=1.2'")


def check_captions(sample_ids: Sequence[str], predictions: Sequence[str | None],
                   references: Sequence[Sequence[str]]) -> tuple[list[str], list[list[str]]]:
    """Validated copies: an empty or missing prediction is valid (it scores 0);
    a sample without references or with a blank reference is a ``CaptionError``."""
    if not len(sample_ids) == len(predictions) == len(references):
        raise CaptionError(f"{len(sample_ids)} sample ids, {len(predictions)} predictions and "
                           f"{len(references)} reference lists: expected one of each per sample")
    preds = ["" if p is None else str(p) for p in predictions]
    refs = []
    for sid, sample_refs in zip(sample_ids, references):
        if isinstance(sample_refs, str) or not sample_refs:
            what = "a bare string" if isinstance(sample_refs, str) else "no reference"
            raise CaptionError(f"sample '{sid}': {what}; every sample needs a list of "
                               "at least one reference caption")
        if any(not isinstance(r, str) or not r.strip() for r in sample_refs):
            raise CaptionError(f"sample '{sid}': empty reference; every reference must hold text")
        refs.append(list(sample_refs))
    return preds, refs


def ptb_tokenize(texts: Sequence[str]) -> list[str]:
    """pycocoevalcap's PTB tokenisation of each text, in one Java call."""
    if not texts:
        return []
    java = java_executable("the PTB tokenizer of the captioning metrics "
                           "(BLEU, CIDEr-D, ROUGE-L, METEOR; pycocoevalcap)")
    jar = pycocoevalcap_dir() / "tokenizer" / "stanford-corenlp-3.4.1.jar"
    body = "".join(_LINE_BREAKS.sub(" ", t) + "\n" for t in texts)
    with tempfile.TemporaryDirectory(prefix="qa-gate-ptb-") as tmp:
        path = Path(tmp) / "captions.txt"
        path.write_bytes(body.encode("utf-8"))
        proc = subprocess.run([java, "-cp", str(jar), _PTB_CLASS, "-preserveLines",
                               "-lowerCase", str(path)], capture_output=True, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()[-500:]
        raise RuntimeError(f"the PTB tokenizer failed (exit {proc.returncode}): {err}")
    lines = proc.stdout.decode("utf-8").split("\n")
    if len(lines) != len(texts) + 1 or lines[-1]:
        raise RuntimeError(f"the PTB tokenizer returned {len(lines) - 1} lines "
                           f"for {len(texts)} captions")
    return [" ".join(w for w in line.rstrip().split(" ") if w not in PUNCTUATIONS)
            for line in lines[:-1]]


def tokenize_captions(predictions: Sequence[str],
                      references: Sequence[Sequence[str]]) -> tuple[list[str], list[list[str]]]:
    """PTB-tokenised ``(predictions, references)``, the references keeping their grouping."""
    flat = [r for refs in references for r in refs]
    tokens = ptb_tokenize([*predictions, *flat])
    preds, rest = tokens[:len(predictions)], iter(tokens[len(predictions):])
    return preds, [[next(rest) for _ in refs] for refs in references]


class CaptionInputs(Protocol):
    """What a captioning metric reads: one generated caption and >= 1 reference per sample."""

    sample_ids: tuple[str, ...]

    def predictions(self) -> list[str]:
        """One generated caption per sample (empty is valid and scores 0)."""
        ...

    def references(self) -> list[list[str]]:
        """At least one non-blank reference per sample."""
        ...


@dataclass(frozen=True)
class TokenizedCaptions:
    """``CaptionInputs`` whose texts are already PTB-tokenised: metrics score them as they are.

    A tokenised reference may be empty (``"..."`` tokenises to nothing), as in pycocoevalcap.
    """

    sample_ids: tuple[str, ...]
    tokenized_predictions: tuple[str, ...]
    tokenized_references: tuple[tuple[str, ...], ...]
    tokenized: ClassVar[bool] = True

    def predictions(self) -> list[str]:
        return list(self.tokenized_predictions)

    def references(self) -> list[list[str]]:
        return [list(refs) for refs in self.tokenized_references]

    @classmethod
    def of(cls, inputs: CaptionInputs) -> TokenizedCaptions:
        """Checked and tokenised (one Java call); inputs marked ``tokenized`` are only checked."""
        ids, preds, refs = tuple(inputs.sample_ids), inputs.predictions(), inputs.references()
        if getattr(inputs, "tokenized", False) is True:  # not merely truthy: a view's tokenized() method
            if not len(ids) == len(preds) == len(refs):
                raise CaptionError("expected one prediction and one reference list per sample id")
            for sid, sample_refs in zip(ids, refs):
                if not sample_refs:
                    raise CaptionError(f"sample '{sid}': no reference; every sample needs at least one")
        else:
            preds, refs = tokenize_captions(*check_captions(ids, preds, refs))
        return cls(ids, tuple(preds), tuple(tuple(r) for r in refs))


class _MeteorJar:
    """One ``meteor-1.5.jar -stdio`` process (pycocoevalcap's command), shared and locked."""

    def __init__(self) -> None:
        java = java_executable("METEOR")
        cmd = [java, "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio", "-l", "en", "-norm"]
        self.proc = subprocess.Popen(cmd, cwd=pycocoevalcap_dir() / "meteor", stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lock = threading.Lock()

    def stats(self, preds: Sequence[str], refs: Sequence[Sequence[str]]) -> list[list[float]]:
        """The jar's 23 statistics of the best reference, per sample (``SCORE`` lines)."""
        lines = [score_line(p, r) for p, r in zip(preds, refs)]
        rows: list[list[float]] = []
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None and stdout is not None  # started with both pipes
        with self.lock:
            for start in range(0, len(lines), 64):  # bounded batches: no pipe deadlock
                batch = lines[start:start + 64]
                stdin.write("".join(batch).encode("utf-8"))
                stdin.flush()
                for _ in batch:
                    reply = stdout.readline().decode("utf-8").strip()
                    row = reply.split()
                    if len(row) != len(METEOR_STATS):
                        self.close()  # out of step with its replies: the next call restarts it
                        raise RuntimeError(f"the METEOR jar answered {reply!r} (exit code "
                                           f"{self.proc.poll()}; it needs Java and ~2 GB memory)")
                    rows.append([float(v) for v in row])
        return rows

    def close(self) -> None:
        if self.proc.poll() is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.kill()
            self.proc.wait()


_JAR: list[_MeteorJar] = []
_JAR_LOCK = threading.Lock()


def meteor_jar() -> _MeteorJar:
    """The shared jar process, started on first use (about 5-10 s) and closed at exit."""
    with _JAR_LOCK:
        if not _JAR or _JAR[0].proc.poll() is not None:
            _JAR[:] = [_MeteorJar()]
            atexit.register(_JAR[0].close)
        return _JAR[0]


def score_line(prediction: str, references: Sequence[str]) -> str:
    """pycocoevalcap's ``SCORE ||| ref ||| ... ||| hyp`` line; ``|||`` and line breaks are
    also removed from references (pycocoevalcap leaves them, which splits a reference)."""
    hyp = _LINE_BREAKS.sub(" ", prediction.replace("|||", "").replace("  ", " "))
    refs = " ||| ".join(_LINE_BREAKS.sub(" ", r.replace("|||", "")) for r in references)
    return " ||| ".join(("SCORE", refs, hyp)) + "\n"
