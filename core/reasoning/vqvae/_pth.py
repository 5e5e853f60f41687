"""Read a legacy PyTorch ``.pth`` state dict without unpickling it.

``torch.save`` writes a zip whose ``data.pkl`` is a pickle naming ``collections.OrderedDict``,
``torch._utils._rebuild_tensor_v2`` and a storage class, with the tensor bytes in ``data/<key>``.
Even ``torch.load(weights_only=True)`` runs an (allow-listed) unpickler over a file a user hands
us. Here :func:`pickletools.genops` only *parses* the opcodes, and a small stack machine
interprets the handful a state dict uses; a name outside the allow-list, or any other opcode, is
refused before anything is called.
"""
from __future__ import annotations

import math
import pickletools
import zipfile
from pathlib import Path

import numpy as np
import torch

_STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
             "BFloat16Storage": np.uint16, "LongStorage": np.int64, "IntStorage": np.int32,
             "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}
_CALLABLES = {"collections OrderedDict", "torch._utils _rebuild_tensor_v2", "torch._utils _rebuild_parameter"}
_MARK = object()


class _Storage:
    """A storage member of the archive: its length is known from the zip directory, its bytes are read
    only when a tensor over it is copied out."""

    def __init__(self, kind: str, archive: zipfile.ZipFile, name: str):
        self.kind, self._archive, self._name, self._data = kind, archive, name, None
        self.dtype = np.dtype(_STORAGES[kind])
        self.size = archive.getinfo(name).file_size // self.dtype.itemsize

    @property
    def data(self) -> np.ndarray:
        if self._data is None:
            raw = self._archive.read(self._name)
            self._data = np.frombuffer(raw, dtype=self.dtype, count=len(raw) // self.dtype.itemsize)
        return self._data


class LazyTensor:
    """A tensor as the file describes it (storage, offset, shape, strides), copied out only by
    :meth:`materialize`: a caller compares ``shape`` with the model's before anything is allocated."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.shape, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialize(self) -> torch.Tensor:
        flat, item = self.storage.data, self.storage.data.itemsize
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], shape=self.shape,
                                               strides=[st * item for st in self.stride])
        out = torch.from_numpy(np.array(view))
        return out.view(torch.bfloat16) if self.storage.kind == "BFloat16Storage" else out


def _tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *_ignored) -> LazyTensor:
    """Check a tensor's view against its storage; the copy waits for :meth:`LazyTensor.materialize`.

    A view may not hold more elements than its storage from its offset on: a 1.5 KB file's
    ``zeros(1).expand(60000, 60000)`` (stride 0) was copied in full, 13.4 GiB, before any shape check."""
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (offset, *size, *stride))
    if not (ints and isinstance(storage, _Storage) and len(size) == len(stride)):
        raise ValueError("a tensor of malformed offset, sizes or strides")
    if offset < 0 or any(s < 0 for s in size) or any(st < 0 for st in stride):
        raise ValueError("a tensor of negative offset, sizes or strides")
    numel = math.prod(size)
    last = offset + sum((s - 1) * st for s, st in zip(size, stride))
    if numel and last >= storage.size:
        raise ValueError("a tensor reaches past its storage")
    if numel > storage.size - offset:
        raise ValueError(f"a tensor of {numel:,} elements views a storage of {storage.size - offset:,} (a stride-0 "
                         f"or overlapping view, as expand() makes); a state dict saves each element")
    return LazyTensor(storage, offset, size, stride)


def materialize(obj):
    """``obj`` with every :class:`LazyTensor` in it (dicts, lists, tuples) copied out as a tensor."""
    if isinstance(obj, LazyTensor):
        return obj.materialize()
    if isinstance(obj, dict):
        return {k: materialize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(materialize(v) for v in obj)
    return obj


def _call(name: str, args: tuple):
    if name == "collections OrderedDict":
        if args:
            raise ValueError("OrderedDict with arguments")
        return {}
    if name == "torch._utils _rebuild_parameter":
        return args[0]
    return _tensor(*args)


def read_pth_state(path: str | Path, prepare=None):
    """The object a ``torch.save`` zip holds, built only from dicts, lists, tuples, numbers, strings
    and tensors; ``ValueError`` for anything else (names outside the allow-list, other opcodes).

    ``prepare``, when given, receives that object with each tensor a :class:`LazyTensor` (its shape
    known, nothing read) and returns what is to be copied out: a caller checks shapes there.
    """
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError("not a zip archive torch.save writes (an old or foreign format)") from None
    size, storages = path.stat().st_size, {}
    with archive:
        for info in archive.infolist():  # torch.save stores members uncompressed
            if info.file_size > size:
                raise ValueError(f"member {info.filename} inflates beyond the file's {size:,} bytes")
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise ValueError("no data.pkl in the archive")
        prefix = pkl[0][: -len("data.pkl")]
        if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder").strip() != b"little":
            raise ValueError("big-endian tensors")

        def storage(pid) -> _Storage:
            if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                    and isinstance(pid[1], tuple) and pid[1][0] == "global" and pid[1][1] in _STORAGES):
                raise ValueError(f"unexpected persistent id {pid!r:.80}")
            kind, key = pid[1][1], str(pid[2])
            if (kind, key) not in storages:  # tensors sharing a storage name it once each: read it once
                storages[kind, key] = _Storage(kind, archive, f"{prefix}data/{key}")
            return storages[kind, key]

        state = _run(archive.read(pkl[0]), storage)
        return materialize(state if prepare is None else prepare(state))


def _run(data: bytes, storage):
    stack: list = []
    memo: dict = {}

    def pop_mark() -> list:
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is _MARK:
                items = stack[i + 1:]
                del stack[i:]
                return items
        raise ValueError("MARK missing")

    for op, arg, _ in pickletools.genops(data):
        name = op.name
        if name in ("PROTO", "FRAME"):
            continue
        if name == "STOP":
            return stack.pop()
        if name in ("BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BININT", "BININT1", "BININT2",
                    "LONG1", "BINFLOAT"):
            stack.append(arg)
        elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
            stack.append({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name])
        elif name in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE"):
            stack.append({"EMPTY_DICT": dict, "EMPTY_LIST": list, "EMPTY_TUPLE": tuple}[name]())
        elif name == "MARK":
            stack.append(_MARK)
        elif name == "TUPLE":
            stack.append(tuple(pop_mark()))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = tuple(stack[-n:])
            del stack[-n:]
            stack.append(items)
        elif name in ("BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name == "SETITEM":
            value, key = stack.pop(), stack.pop()
            stack[-1][key] = value
        elif name == "SETITEMS":
            items = pop_mark()
            stack[-1].update(zip(items[::2], items[1::2]))
        elif name == "APPEND":
            stack[-2].append(stack.pop())
        elif name == "APPENDS":
            items = pop_mark()
            stack[-1].extend(items)
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            if name == "STACK_GLOBAL":
                attr, module = stack.pop(), stack.pop()
                arg = f"{module} {attr}"
            if arg.startswith("torch ") and arg[len("torch "):] in _STORAGES:
                stack.append(("global", arg[len("torch "):]))
            elif arg in _CALLABLES:
                stack.append(("callable", arg))
            else:
                raise ValueError(f"it names {arg.replace(' ', '.')!r}, which a state dict of tensors never does")
        elif name == "REDUCE":
            args, fn = stack.pop(), stack.pop()
            if not (isinstance(fn, tuple) and fn[:1] == ("callable",) and isinstance(args, tuple)):
                raise ValueError("a call of something not allowed")
            stack.append(_call(fn[1], args))
        elif name == "BINPERSID":
            stack.append(storage(stack.pop()))
        elif name == "BUILD":
            state = stack.pop()  # an OrderedDict's _metadata (module versions): not needed
            if not isinstance(stack[-1], dict) or not isinstance(state, (dict, tuple)):
                raise ValueError("BUILD of something that is not a dict")
        else:
            raise ValueError(f"pickle opcode {name} is not part of a state dict")
    raise ValueError("no STOP opcode")
