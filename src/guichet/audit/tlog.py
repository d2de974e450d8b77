"""Merkle tree arithmetic of RFC 9162 §2.1, with no storage and no Django.

Hashing (SHA-256): a leaf is HASH(0x00 || entry), an interior node HASH(0x01 || left || right),
and MTH(D[n]) splits D at k, the largest power of two strictly smaller than n.

Storage model ("hash storage" of tlog-tiles): only *perfect* subtrees are ever stored. The node
at (level, index) is the MTH of the 2**level entries starting at index * 2**level; level 0 holds
the leaf hashes. Such a node never changes once its last leaf is appended. Every range that
appears in RFC 9162's recursions (the tree itself, the right-hand remainders D[k:n], and the
ranges of inclusion and consistency proofs) starts on a boundary aligned to at least its own
size, so it splits into at most log2(n) + 1 stored perfect subtrees, one per set bit of its
size, and its MTH is their right fold. Roots and proofs are therefore computed from O(log n)
stored hashes, never by rehashing leaves.

Proof functions here are split in two steps so that a caller can batch its reads: a *plan*
lists the hash ranges a proof needs, `nodes_for` names the stored nodes those ranges cover,
and `evaluate` turns the fetched nodes into the proof's hashes.
"""

import hashlib
from collections.abc import Iterable, Mapping, Sequence

HASH_SIZE = 32
Node = tuple[int, int]  # (level, index)
Range = tuple[int, int]  # [start, end) of entry indices


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def empty_root() -> bytes:
    return hashlib.sha256(b"").digest()


def split_point(size: int) -> int:
    """k of RFC 9162 §2.1.1: the largest power of two strictly smaller than size (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_subtrees(start: int, end: int) -> list[Node]:
    """The stored nodes that tile [start, end), left to right, largest first."""
    nodes: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start % (1 << level):
            raise ValueError(f"range [{start}, {end}) is not an RFC 9162 subtree")
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of consecutive perfect subtrees given largest first: the RFC splits off the left one."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def frontier_levels(size: int) -> list[int]:
    """Levels of the perfect subtrees that make up a tree of `size` leaves, largest first."""
    return [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]


def append_leaf(frontier: list[bytes], size: int, leaf: bytes) -> list[tuple[int, int, bytes]]:
    """Add leaf number `size` to the frontier (in place); return the nodes it completes.

    The frontier is the list of perfect subtree hashes of the tree before the append, largest
    first. The returned nodes start with the leaf itself at level 0 and go up.
    """
    created = [(0, size, leaf)]
    current, level, index = leaf, 0, size
    while size >> level & 1:
        current = node_hash(frontier.pop(), current)
        level += 1
        index >>= 1
        created.append((level, index, current))
    frontier.append(current)
    return created


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    return fold(frontier) if frontier else empty_root()


def inclusion_plan(index: int, size: int) -> list[Range]:
    """Ranges whose MTH form PATH(index, D[size]) (§2.1.3.1), from the leaf's sibling upwards."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of size {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_plan(first: int, second: int) -> list[Range]:
    """Ranges whose MTH form PROOF(first, D[second]) (§2.1.4.1); empty when there is nothing
    to prove (first is 0 or equal to second)."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first in (0, second):
        return []
    ranges: list[Range] = []
    start, end, whole = 0, second, True
    while True:
        if first == end:
            if not whole:
                ranges.append((start, end))
            break
        k = split_point(end - start)
        if first <= start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            whole = False
    ranges.reverse()
    return ranges


def nodes_for(ranges: Iterable[Range]) -> set[Node]:
    return {node for start, end in ranges for node in perfect_subtrees(start, end)}


def evaluate(ranges: Iterable[Range], nodes: Mapping[Node, bytes]) -> list[bytes]:
    return [fold([nodes[node] for node in perfect_subtrees(start, end)]) for start, end in ranges]


def _lsb(value: int) -> int:
    return value & 1


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2, step by step."""
    if index >= size or index < 0:
        return False
    fn, sn = index, size - 1
    result = leaf
    for sibling in proof:
        if sn == 0:
            return False
        if _lsb(fn) or fn == sn:
            result = node_hash(sibling, result)
            if not _lsb(fn):
                while not _lsb(fn) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and result == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2, step by step; equal sizes need an empty proof and equal roots, and an
    empty first tree is consistent with any tree."""
    if first < 0 or first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while _lsb(fn):
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if _lsb(fn) or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not _lsb(fn):
                while not _lsb(fn) and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# --- tlog-tiles addressing --------------------------------------------------------------------

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT


def tile_index_path(index: int) -> str:
    """N of tlog-tiles: zero-padded 3-digit groups, all but the last prefixed with "x"."""
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def parse_tile_index(path: str) -> int:
    parts = path.split("/")
    if not all(len(part) == 4 and part[0] == "x" and part[1:].isdigit() for part in parts[:-1]):
        raise ValueError(path)
    if not (len(parts[-1]) == 3 and parts[-1].isdigit()):
        raise ValueError(path)
    value = 0
    for part in parts:
        value = value * 1000 + int(part.lstrip("x"))
    if tile_index_path(value) != path:  # a leading "x000/" would name the same tile twice
        raise ValueError(path)
    return value


def tile_nodes(tile_level: int, tile_index: int, width: int) -> tuple[int, int, int]:
    """(tree level, first index, count) of the stored nodes a tile concatenates."""
    return tile_level * TILE_HEIGHT, tile_index * TILE_WIDTH, width


def tile_width(tile_level: int, tile_index: int, tree_size: int) -> int:
    """How many hashes tile (L, N) holds in a tree of tree_size leaves (256 when full)."""
    hashes_at_level = tree_size >> (TILE_HEIGHT * tile_level)
    return max(0, min(TILE_WIDTH, hashes_at_level - tile_index * TILE_WIDTH))
