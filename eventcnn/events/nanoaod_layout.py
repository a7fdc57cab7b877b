"""Where a NanoAOD name is in a file: the layouts the field writes, for the TTree and the RNTuple alike.

eventcnn reads NanoAOD by its names (``Muon_pt``, ``MET_phi``, ``event``, ...).
Files store them in one of these layouts (:data:`LAYOUTS`, tried in this order for
each name; a file may mix them):

==============  ====================================  =============================================
layout          ``Muon_pt`` is stored as               written by
==============  ====================================  =============================================
``flat``        the branch / field ``Muon_pt``         NanoAOD TTrees; RNTuples converted field by
                (``MET_pt`` per event)                 field (``RNTupleImporter``, uproot from flat
                                                       arrays)
``collection``  the field ``pt`` of the collection     CMSSW's RNTuple NanoAOD (``Muon`` a collection
                field ``Muon`` (``Muon.pt``; also      of records, ``MET`` a record); uproot writing
                inside a record: ``reco.Muon.pt``;     awkward record arrays (``mkrntuple``); nested
                ``MET.pt`` for a per-event record)     records and collections inside are skipped
``imported``    the field ``Muon_pt`` of an unnamed    ROOT's ``RNTupleImporter`` (``_collection0``,
                collection (``_collection0.Muon_pt``)  beside its flat projections)
==============  ====================================  =============================================

A name found in two places of one layout is an error naming both (never a
guess). :class:`Layout` also says what type a field has (one value per event or
per object, float / integer / boolean), so a field of an unexpected type is named
with its type, not coerced. Adding a layout is one function and one entry in
:data:`LAYOUTS`.

Example::

    >>> from eventcnn.events.nanoaod_layout import candidates
    >>> candidates("Muon_pt")
    ['Muon_pt', 'Muon.pt', '<collection>.Muon_pt']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from eventcnn.events.cms_json import EventFormatError

__all__ = ["DEFAULT_STEP", "LAYOUTS", "MARKER", "Field", "Layout", "candidates", "uproot_module"]

#: events per chunk read or written at once
DEFAULT_STEP = 200_000
#: TObjString naming the b-tag discriminant when it is not what the branch name says (``"csv"``: 2011 JSON values)
MARKER = "eventcnn_btag"


def uproot_module() -> Any:
    """uproot, or an ImportError that says how to install it (the ``nano`` extra)."""
    try:
        import uproot
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError("reading NanoAOD needs uproot and awkward: pip install 'eventcnn[nano]'") from None
    return uproot


class Field(NamedTuple):
    """One NanoAOD name as found in a file."""

    name: str  #: the NanoAOD name (``Muon_pt``)
    key: str  #: what uproot reads: the TTree branch or the RNTuple field path (``Muon.pt``)
    path: tuple[str, ...]  #: the fields to follow in the arrays uproot returns
    layout: str  #: the layout it was found in (:data:`LAYOUTS`)


def _flat(keys: Sequence[str], name: str) -> list[str]:
    return [name] if name in keys else []


def _collection(keys: Sequence[str], name: str) -> list[str]:
    if "_" not in name:
        return []
    coll, sub = name.split("_", 1)
    return [k for k in keys if k.split(".")[-2:] == [coll, sub]]


def _imported(keys: Sequence[str], name: str) -> list[str]:
    return [k for k in keys if "." in k and k.rsplit(".", 1)[1] == name]


#: layout name -> how to find a NanoAOD name among a file's keys (tried in this order)
LAYOUTS: dict[str, Callable[[Sequence[str], str], list[str]]] = {
    "flat": _flat,
    "collection": _collection,
    "imported": _imported,
}

_WHERE = {"flat": "{name}", "collection": "{coll}.{sub}", "imported": "<collection>.{name}"}


def candidates(name: str) -> list[str]:
    """Where each layout would store ``name`` (for messages that say what was looked for).

    Example::

        >>> candidates("event")
        ['event', '<collection>.event']
    """
    coll, _, sub = name.partition("_")
    return [_WHERE[lay].format(name=name, coll=coll, sub=sub) for lay in LAYOUTS
            if lay != "collection" or sub]


_LIST_FORMS = ("ListOffsetForm", "ListForm", "RegularForm")
_KIND_WORDS = {"f": "float", "i": "integer", "u": "integer", "b": "boolean"}


class Layout:
    """The names of one ``Events`` TTree or RNTuple, and where each NanoAOD name is in it.

    Example::

        lay = Layout(tree, "tt.root")
        lay.find("Muon_pt")          # Field(name='Muon_pt', key='Muon.pt', path=('Muon', 'pt'), layout='collection')
    """

    def __init__(self, tree: Any, source: str) -> None:
        self.tree = tree
        self.source = source
        self.keys: list[str] = [str(k) for k in tree.keys()]  # noqa: SIM118 - uproot's keys(): every branch / field path
        self.is_rntuple = not hasattr(tree, "branches")
        self._found: dict[str, Field | None] = {}

    @property
    def what(self) -> str:
        """``"TTree"`` or ``"RNTuple"``."""
        return "RNTuple" if self.is_rntuple else "TTree"

    def find(self, name: str) -> Field | None:
        """Where ``name`` is (the first layout that has it), or None; two places in one layout is an error."""
        if name not in self._found:
            self._found[name] = self._search(name)
        return self._found[name]

    def _search(self, name: str) -> Field | None:
        for layout, rule in LAYOUTS.items():
            hits = rule(self.keys, name)
            if len(hits) > 1:
                raise EventFormatError(
                    f"{self.source}: {name} is in {len(hits)} places of the 'Events' {self.what} "
                    f"({', '.join(hits)}): eventcnn does not guess which one to read"
                )
            if hits:
                key = hits[0]
                return Field(name, key, tuple(key.split(".")) if self.is_rntuple else (key,), layout)
        return None

    def type_of(self, field: Field) -> tuple[int, str, str]:
        """``(list depth, numpy dtype kind, type in words)``: depth 0 is one value per event, 1 per object."""
        branch = self.tree[field.key]
        interp = getattr(branch, "interpretation", None)
        if interp is not None:  # TTree
            jagged = isinstance(interp, uproot_module().interpretation.jagged.AsJagged)
            content = interp.content if jagged else interp
            dtype = getattr(content, "to_dtype", None)
            kind = dtype.kind if isinstance(dtype, np.dtype) and dtype.fields is None else ""
            return int(jagged), kind, str(interp)
        form, path = branch.to_akform()
        depth = 0
        for part in path:
            while type(form).__name__ in _LIST_FORMS:
                depth, form = depth + 1, form.content
            form = form.content(part)
        while type(form).__name__ in _LIST_FORMS:
            depth, form = depth + 1, form.content
        primitive = getattr(form, "primitive", None)
        kind = np.dtype(primitive).kind if primitive else ""
        text = str(getattr(branch, "typename", "") or "")
        if not text or not kind:  # a record or a collection: say what it holds
            text = type(form).__name__.removesuffix("Form").lower()
            if getattr(form, "fields", None):
                text += f" of {', '.join(form.fields[:6])}"
        if len(path) > 1 or not kind:  # a field inside records / collections: its type is the leaf's
            text = f"{'list of ' * depth}{text}"
        return depth, kind, text

    def check(self, field: Field, kinds: str, depth: int) -> None:
        """A clear :class:`EventFormatError` unless ``field`` holds numbers of ``kinds`` at list ``depth``."""
        got_depth, kind, text = self.type_of(field)
        if got_depth != depth or not kind or kind not in kinds:
            want = " or ".join(dict.fromkeys(_KIND_WORDS[k] for k in kinds))
            shape = "one value per object (jagged)" if depth else "one value per event"
            where = field.key if field.key == field.name else f"{field.name} (stored as {field.key})"
            raise EventFormatError(f"{self.source}: {where} in the 'Events' {self.what} has type {text}; "
                                   f"expected {want}, {shape}")

    def extract(self, arrays: Any, field: Field) -> Any:
        """The values of ``field`` in a chunk that uproot read (jagged per event for objects)."""
        out = arrays
        for part in field.path:
            out = out[part]
        return out

    def listing(self, limit: int = 16) -> str:
        """The file's names, for messages: the top-level ones (and how many there are)."""
        top = list(dict.fromkeys(k.split(".")[0] for k in self.keys))
        shown = ", ".join(top[:limit]) + (f", ... ({len(top)} in all)" if len(top) > limit else "")
        return shown or "nothing"
