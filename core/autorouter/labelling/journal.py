"""The journal that makes a labelling run resumable: the keys its records are filed under,
where it lives beside the output, reading it back (`_State`) and appending to it, locked
against a second run and fsync'd line by line (`_Journal`)."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError
from .settings import VERDICT_ATTEMPTS

try:  # POSIX: one labelling run per journal at a time
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: What the journal's name adds to the output's.
JOURNAL_SUFFIX = ".journal"
JOURNAL_VERSION = 1


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _digest(kind: str, value: Any) -> str:
    return hashlib.sha256(f"{kind}\0{_canonical(value)}".encode()).hexdigest()


def journal_path_for(out: str | Path) -> Path:
    """Where the journal of the output `out` lives: beside it, `<out>.journal`."""
    out = Path(out)
    return out.with_name(out.name + JOURNAL_SUFFIX)


class _State:
    """What a journal holds, indexed by key."""

    def __init__(self) -> None:
        self.prompts: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, dict[str, Any]] = {}
        self.answer_failures: dict[str, dict[str, Any]] = {}
        self.verdicts: dict[str, list[dict[str, Any]]] = {}
        self.verdict_failures: dict[str, dict[str, Any]] = {}
        self.spent = 0.0
        self.records = 0

    def add(self, rec: dict[str, Any]) -> None:
        kind, key = rec.get("type"), rec.get("key")
        if not isinstance(key, str):
            return
        self.records += 1
        cost = rec.get("cost_usd")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool) and math.isfinite(cost):
            self.spent += float(cost)
        ok = rec.get("status") == "ok"
        if kind == "prompt":
            self.prompts.setdefault(key, rec)
        elif kind == "answer":
            if ok:
                self.answers.setdefault(key, rec)
            else:
                self.answer_failures[key] = rec
        elif kind == "verdict":
            if rec.get("status") in ("ok", "unparsable"):
                self.verdicts.setdefault(key, []).append(rec)
            else:
                self.verdict_failures[key] = rec

    def verdict(self, key: str) -> dict[str, Any] | None:
        """The parsed verdict of `key`, if one came."""
        return next((r for r in self.verdicts.get(key, ()) if r.get("status") == "ok"), None)

    def unparsable(self, key: str) -> int:
        return sum(1 for r in self.verdicts.get(key, ()) if r.get("status") == "unparsable")

    def verdict_final(self, key: str) -> bool:
        """True when `key` needs no more judge calls: parsed, or unparsable every time."""
        return self.verdict(key) is not None or self.unparsable(key) >= VERDICT_ATTEMPTS

    @classmethod
    def read(cls, path: Path) -> _State:
        state = cls()
        if not path.is_file():
            return state
        bad = 0
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        for i, raw in enumerate(lines):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                if i < len(lines) - 1:  # the last line may be cut short by a crash: expected
                    bad += 1
                continue
            if isinstance(rec, dict):
                state.add(rec)
        if bad:
            warnings.warn(f"{path}: {bad} unreadable journal lines ignored", stacklevel=3)
        return state


class _Journal:
    """The append-only journal file of one run, locked against a second run on it."""

    def __init__(self, path: Path, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        self._f: io.BufferedWriter | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "ab")  # noqa: SIM115 - held open (and locked) for the whole run
        if fcntl is not None:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                raise InvalidRequestError(
                    f"another labelling run is writing {self.path}; wait for it to finish"
                ) from None
        size = f.tell()
        if size > 0:
            self._mend(f, size)
        self._f = f

    def _mend(self, f: io.BufferedWriter, size: int) -> None:
        """A crash in the middle of a write leaves half a line at the end: cut it off (it holds
        nothing readable), so the next record starts on a line of its own."""
        with open(self.path, "rb") as r:
            r.seek(max(0, size - (1 << 20)))
            tail = r.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        last = tail[cut + 1:]
        try:
            json.loads(last.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            if cut < 0 and size > len(tail):  # a line longer than the window: leave it be
                f.write(b"\n")
            else:
                f.truncate(size - len(last))
            return
        f.write(b"\n")  # a whole record without its line break

    def append(self, rec: dict[str, Any]) -> None:
        assert self._f is not None
        self._f.write((json.dumps(rec, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
        self._f.flush()
        if self.fsync:
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()  # closing releases the lock
            self._f = None
