"""Merkle tree arithmetic against the RFC: published test vectors, and every size up to 40 with
every index and every pair of sizes checked against a literal recursive transcription."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guichet.audit import tlog
from guichet.audit.tests import rfc9162

# The RFC 6962 reference leaves and tree heads (certificate-transparency's merkle tree tests,
# reused by every CT implementation).
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [  # (index, size, path)
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CT_CONSISTENCY = [  # (first, second, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
MAX_SIZE = 40
ENTRIES = [f"entry {i}".encode() for i in range(MAX_SIZE)]


class Stored:
    """The tree as the app stores it: every node append_leaf returns, and the frontier."""

    def __init__(self, entries: list[bytes]) -> None:
        self.nodes: dict[tlog.Node, bytes] = {}
        self.frontier: list[bytes] = []
        self.roots = [tlog.empty_root()]
        for index, entry in enumerate(entries):
            for level, position, digest in tlog.append_leaf(
                self.frontier, index, tlog.leaf_hash(entry)
            ):
                assert (level, position) not in self.nodes, "a stored node never changes"
                self.nodes[(level, position)] = digest
            self.roots.append(tlog.root_from_frontier(self.frontier))

    def root(self, size: int) -> bytes:
        return tlog.fold([self.nodes[node] for node in tlog.perfect_subtrees(0, size)])

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return tlog.evaluate(tlog.inclusion_plan(index, size), self.nodes)

    def consistency(self, first: int, second: int) -> list[bytes]:
        return tlog.evaluate(tlog.consistency_plan(first, second), self.nodes)


STORED = Stored(ENTRIES)
CT = Stored(CT_LEAVES)


def _flip(digest: bytes) -> bytes:
    return bytes([digest[0] ^ 1]) + digest[1:]


def test_reference_vectors_roots() -> None:
    assert [root.hex() for root in CT.roots] == CT_ROOTS
    assert [rfc9162.mth(CT_LEAVES[:n]).hex() for n in range(9)] == CT_ROOTS
    assert all(CT.root(n).hex() == CT_ROOTS[n] for n in range(1, 9))


@pytest.mark.parametrize(("index", "size", "expected"), CT_INCLUSION)
def test_reference_vectors_inclusion(index: int, size: int, expected: list[str]) -> None:
    assert [node.hex() for node in CT.inclusion(index, size)] == expected
    leaf = tlog.leaf_hash(CT_LEAVES[index])
    root = bytes.fromhex(CT_ROOTS[size])
    assert tlog.verify_inclusion(index, size, leaf, CT.inclusion(index, size), root)


@pytest.mark.parametrize(("first", "second", "expected"), CT_CONSISTENCY)
def test_reference_vectors_consistency(first: int, second: int, expected: list[str]) -> None:
    assert [node.hex() for node in CT.consistency(first, second)] == expected
    old, new = bytes.fromhex(CT_ROOTS[first]), bytes.fromhex(CT_ROOTS[second])
    assert tlog.verify_consistency(first, second, old, new, CT.consistency(first, second))


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_roots_match_the_rfc_for_every_size(size: int) -> None:
    expected = rfc9162.mth(ENTRIES[:size])
    assert STORED.roots[size] == expected  # incremental, from the frontier
    assert STORED.root(size) == expected  # from stored perfect subtrees only


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_inclusion_proofs_match_the_rfc_for_every_index(size: int) -> None:
    root = rfc9162.mth(ENTRIES[:size])
    for index in range(size):
        proof = STORED.inclusion(index, size)
        assert proof == rfc9162.path(index, ENTRIES[:size])
        leaf = tlog.leaf_hash(ENTRIES[index])
        assert tlog.verify_inclusion(index, size, leaf, proof, root)
        assert len(proof) <= (size - 1).bit_length()
        # Any change to what is proven makes the proof fail.
        assert not tlog.verify_inclusion(index, size, _flip(leaf), proof, root)
        assert not tlog.verify_inclusion(index, size, leaf, proof, _flip(root))
        assert not tlog.verify_inclusion(size, size, leaf, proof, root)
        if size > 1:
            assert not tlog.verify_inclusion((index + 1) % size, size, leaf, proof, root)
            assert not tlog.verify_inclusion(index, size, leaf, proof[:-1], root)
            for position in range(len(proof)):
                altered = [*proof[:position], _flip(proof[position]), *proof[position + 1 :]]
                assert not tlog.verify_inclusion(index, size, leaf, altered, root)


@pytest.mark.parametrize("second", range(1, MAX_SIZE + 1))
def test_consistency_proofs_match_the_rfc_for_every_pair(second: int) -> None:
    new = rfc9162.mth(ENTRIES[:second])
    for first in range(1, second + 1):
        old = rfc9162.mth(ENTRIES[:first])
        proof = STORED.consistency(first, second)
        assert proof == rfc9162.proof(first, ENTRIES[:second])
        assert tlog.verify_consistency(first, second, old, new, proof)
        assert len(proof) <= (second - 1).bit_length() + 1
        assert not tlog.verify_consistency(first, second, _flip(old), new, proof)
        if first < second:
            assert not tlog.verify_consistency(first, second, old, _flip(new), proof)
            for position in range(len(proof)):
                altered = [*proof[:position], _flip(proof[position]), *proof[position + 1 :]]
                assert not tlog.verify_consistency(first, second, old, new, altered)
            # A history rewritten below `first` is not consistent with the old root.
            forged = [b"forged", *ENTRIES[1:second]]
            forged_root = rfc9162.mth(forged)
            forged_proof = rfc9162.proof(first, forged)
            assert not tlog.verify_consistency(first, second, old, forged_root, forged_proof)


def test_empty_and_equal_sizes() -> None:
    root = rfc9162.mth(ENTRIES[:5])
    assert tlog.consistency_plan(0, 5) == []
    assert tlog.verify_consistency(0, 5, tlog.empty_root(), root, [])
    assert tlog.verify_consistency(5, 5, root, root, [])
    assert not tlog.verify_consistency(5, 5, root, _flip(root), [])
    assert not tlog.verify_consistency(6, 5, root, root, [])
    assert tlog.empty_root() == hashlib.sha256(b"").digest()
    with pytest.raises(ValueError, match="outside"):
        tlog.inclusion_plan(5, 5)


# No deadline: a 5,000-leaf reference tree takes a few hundred ms on a busy CI machine, and
# speed is bench/audit_bench.py's business, not this test's.
@settings(deadline=None)
@given(st.integers(min_value=1, max_value=5000), st.data())
def test_larger_trees_agree_with_the_reference_route(size: int, data: st.DataObject) -> None:
    """Beyond 40: a random index and size pair, checked against the recursive definition."""
    leaves = [tlog.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    frontier: list[bytes] = []
    nodes: dict[tlog.Node, bytes] = {}
    for index, leaf in enumerate(leaves):
        for level, position, digest in tlog.append_leaf(frontier, index, leaf):
            nodes[(level, position)] = digest
    entries = [i.to_bytes(4, "big") for i in range(size)]
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    first = data.draw(st.integers(min_value=1, max_value=size))
    plan = tlog.inclusion_plan(index, size)
    assert tlog.evaluate(plan, nodes) == rfc9162.path(index, entries)
    assert len(tlog.nodes_for(plan)) <= 2 * size.bit_length() ** 2
    assert tlog.evaluate(tlog.consistency_plan(first, size), nodes) == rfc9162.proof(first, entries)
    assert tlog.root_from_frontier(frontier) == rfc9162.mth(entries)


@pytest.mark.parametrize(
    ("index", "path"),
    [(0, "000"), (67, "067"), (1000, "x001/000"), (1234067, "x001/x234/067")],
)
def test_tile_paths(index: int, path: str) -> None:
    assert tlog.tile_index_path(index) == path
    assert tlog.parse_tile_index(path) == index


@pytest.mark.parametrize("path", ["67", "0067", "x000/067", "001/234", "x1/067", "abc", ""])
def test_malformed_tile_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError):
        tlog.parse_tile_index(path)


def test_tile_widths_follow_the_spec_example() -> None:
    # tlog-tiles: a tree of 70,000 has 273 full level-0 tiles and one of width 112, one full
    # level-1 tile and one of width 17, and a level-2 tile of width 1.
    assert tlog.tile_width(0, 272, 70000) == 256
    assert tlog.tile_width(0, 273, 70000) == 112
    assert tlog.tile_width(1, 0, 70000) == 256
    assert tlog.tile_width(1, 1, 70000) == 17
    assert tlog.tile_width(2, 0, 70000) == 1
    assert tlog.tile_width(0, 274, 70000) == 0
