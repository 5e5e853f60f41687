"""Save/load round trips, and truncated, corrupt, foreign and wrong-version files."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from core.reasoning.mycelial import MycelialConfig, MycelialReasoning
from core.reasoning.mycelial.persistence import FORMAT_VERSION


@pytest.fixture
def net():
    rng = np.random.default_rng(0)
    n = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=16, window=3))
    n.observe(rng.integers(0, 16, size=(500, 4)), groups=rng.integers(0, 20, 500))
    n.decay()
    n.observe(rng.integers(0, 16, size=(50, 4)))
    return n


def test_round_trip_is_bit_identical(net, tmp_path):
    p = tmp_path / "net.npz"
    net.save(p)
    back = MycelialReasoning.load(p)
    assert back == net and back.config == net.config
    q = [1, 2, 3, 4]
    np.testing.assert_array_equal(back.propagate(q), net.propagate(q))
    assert back.stats() == net.stats()
    # the loaded network keeps learning like the original
    back.observe([[1, 2, 3, 4]])
    net.observe([[1, 2, 3, 4]])
    assert back == net


def test_save_is_atomic_and_leaves_no_temp_files(net, tmp_path):
    p = tmp_path / "sub" / "net.npz"
    net.save(p)
    net.observe([[0, 0, 0, 0]])
    net.save(p)  # overwrite in place
    assert sorted(x.name for x in p.parent.iterdir()) == ["net.npz"]
    assert MycelialReasoning.load(p) == net


def test_save_to_a_folder_names_the_folder_and_writes_nothing(net, tmp_path):
    # the rename failed with "Is a directory: '<parent>/.x.tmp' -> '<folder>'", naming a temp file
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError, match=r"out is a folder; give a file name such as .*out/network\.npz"):
        net.save(tmp_path / "out")
    assert sorted(x.name for x in tmp_path.rglob("*")) == ["out"]


def test_save_keeps_the_exact_path(net, tmp_path):
    p = tmp_path / "network.mycelial"  # np.savez would append .npz to a name
    net.save(p)
    assert p.is_file() and MycelialReasoning.load(p) == net


def test_truncated_file_raises_and_never_half_loads(net, tmp_path):
    p = tmp_path / "net.npz"
    net.save(p)
    data = p.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="corrupt|truncated|not a"):
            MycelialReasoning.load(bad)


def _rewrite(src, dst, change):
    """Copy the npz at ``src`` to ``dst`` with ``change(name, array) -> array`` applied."""
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays = {k: change(k, v) for k, v in arrays.items()}
    with open(dst, "wb") as f:
        np.savez(f, **arrays)


def _header(a):
    return json.loads(a.tobytes().decode())


def _encode(h):
    return np.frombuffer(json.dumps(h).encode(), dtype=np.uint8)


def test_corrupt_array_fails_its_checksum(net, tmp_path):
    p, bad = tmp_path / "net.npz", tmp_path / "bad.npz"
    net.save(p)

    def flip(name, a):
        if name == "counts":
            a = a.copy()
            a[0] += 1.0
        return a

    _rewrite(p, bad, flip)
    with pytest.raises(ValueError, match="checksum"):
        MycelialReasoning.load(bad)


def test_flipped_bytes_are_detected(net, tmp_path):
    p = tmp_path / "net.npz"
    net.save(p)
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(ValueError):
        MycelialReasoning.load(p)


def test_wrong_version_and_foreign_files(net, tmp_path):
    p = tmp_path / "net.npz"
    net.save(p)
    for version in (FORMAT_VERSION + 1, 0, "1"):
        bad = tmp_path / "v.npz"

        def bump(name, a, version=version):
            if name != "header":
                return a
            h = _header(a)
            h["format_version"] = version
            return _encode(h)

        _rewrite(p, bad, bump)
        with pytest.raises(ValueError, match="version"):
            MycelialReasoning.load(bad)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.arange(3))
    with pytest.raises(ValueError, match="not a mycelial network"):
        MycelialReasoning.load(other)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError):
        MycelialReasoning.load(text)
    with pytest.raises(FileNotFoundError):
        MycelialReasoning.load(tmp_path / "missing.npz")


def test_pickled_arrays_are_refused(net, tmp_path):
    p, bad = tmp_path / "net.npz", tmp_path / "pickle.npz"
    net.save(p)

    def objectify(name, a):
        return np.array([{"evil": 1}], dtype=object) if name == "keys" else a

    with np.load(p, allow_pickle=False) as z:
        arrays = {k: objectify(k, z[k]) for k in z.files}
    with open(bad, "wb") as f:
        np.savez(f, **arrays)  # np.savez pickles the object array
    with pytest.raises(ValueError):
        MycelialReasoning.load(bad)


def test_inconsistent_header_is_rejected(net, tmp_path):
    p, bad = tmp_path / "net.npz", tmp_path / "bad.npz"
    net.save(p)

    def shrink(name, a):
        if name != "header":
            return a
        h = _header(a)
        h["config"]["codebook_size"] = 8
        return _encode(h)

    _rewrite(p, bad, shrink)
    with pytest.raises(ValueError, match="node_counts"):
        MycelialReasoning.load(bad)


@pytest.mark.parametrize("field, value, says", [
    ("n_events", "abc", "n_events is 'abc'"), ("n_events", -5, "n_events is -5"), ("n_decays", -1, "n_decays is -1"),
    ("n_decays", 1.5, "n_decays is 1.5"), ("arrays", None, "arrays entry is not a JSON object")])
def test_header_counters_of_another_kind_are_named_with_the_file(net, tmp_path, field, value, says):
    # the checksums cover the arrays only: "abc" raised int()'s message without the file, -5 events and
    # -1 decays were taken as they were, arrays=None was an AttributeError
    p, bad = tmp_path / "net.npz", tmp_path / "bad.npz"
    net.save(p)

    def edit(name, a):
        if name != "header":
            return a
        h = _header(a)
        h[field] = value
        return _encode(h)

    _rewrite(p, bad, edit)
    with pytest.raises(ValueError, match=f"bad.npz: header's {says}"):
        MycelialReasoning.load(bad)


def test_file_is_a_plain_zip_of_npy_arrays(net, tmp_path):
    p = tmp_path / "net.npz"
    net.save(p)
    with zipfile.ZipFile(p) as z:
        assert sorted(z.namelist()) == sorted(
            ["header.npy", "keys.npy", "counts.npy", "group_counts.npy", "node_counts.npy",
             "cx_keys.npy", "cx_counts.npy", "cx_group_counts.npy", "concept_counts.npy"])
        arr = np.load(io.BytesIO(z.read("header.npy")), allow_pickle=False)
    assert _header(arr)["format"] == "mycelial-network"


def test_empty_network_round_trips(tmp_path):
    net = MycelialReasoning(MycelialConfig(num_heads=2, codebook_size=3))
    net.save(tmp_path / "empty.npz")
    back = MycelialReasoning.load(tmp_path / "empty.npz")
    assert back == net and back.stats()["num_edges"] == 0


def test_negative_counts_are_rejected_even_with_a_matching_checksum(net, tmp_path):
    p, bad = tmp_path / "net.npz", tmp_path / "bad.npz"
    net.save(p)
    import hashlib

    with np.load(p, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["counts"] = -arrays["counts"]
    h = _header(arrays["header"])
    h["arrays"]["counts"]["sha256"] = hashlib.sha256(arrays["counts"].tobytes()).hexdigest()
    arrays["header"] = _encode(h)
    with open(bad, "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(ValueError, match="negative"):
        MycelialReasoning.load(bad)
