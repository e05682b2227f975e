"""anneal.data from Python: C++ and Python-defined datasets, the loader's determinism
across worker counts, samplers, errors from a Python dataset, readers."""
import numpy as np
import pytest

import anneal
from anneal import data


class Squares(data.Dataset):
    def __init__(self, n, fail_at=-1):
        super().__init__()
        self.n, self.fail_at = n, fail_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise ValueError(f"example {i} is broken")
        return anneal.tensor([float(i), float(i * i)]), i


def collect(loader):
    return [y.tolist() for _, y in loader]


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_python_dataset_batches_do_not_depend_on_workers(workers):
    ds = Squares(23)
    ref = collect(data.DataLoader(ds, batch_size=5, shuffle=True, seed=3))
    got = collect(data.DataLoader(ds, batch_size=5, shuffle=True, seed=3, num_workers=workers))
    assert got == ref
    assert sorted(sum(ref, [])) == list(range(23))
    x, y = next(iter(data.DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 2) and y.tolist() == [0, 1, 2, 3]
    assert x[3].tolist() == [3.0, 9.0]


def test_epochs_reshuffle_and_len():
    loader = data.DataLoader(data.TensorDataset(anneal.arange(10).reshape(10, 1), anneal.arange(10)),
                             batch_size=4, shuffle=True, seed=1, drop_last=True)
    assert len(loader) == 2
    first, second = collect(loader), collect(loader)
    assert first != second and len(first) == 2


def test_errors_in_python_dataset_reach_the_loop():
    for workers in (0, 2):
        loader = data.DataLoader(Squares(20, fail_at=13), batch_size=4, num_workers=workers)
        with pytest.raises(ValueError, match="example 13 is broken"):
            collect(loader)


def test_samplers():
    s = data.DistributedSampler(10, num_replicas=4, rank=2, shuffle=False)
    assert s.indices(0) == [2, 6, 0] and len(s) == 3
    ds = data.TensorDataset(anneal.arange(10).reshape(10, 1), anneal.arange(10))
    assert sum(collect(data.DataLoader(ds, batch_size=2, sampler=s)), []) == [2, 6, 0]
    w = data.WeightedRandomSampler([0, 0, 1], 5)
    assert w.indices(0) == [2] * 5


def test_text_windows_and_vocab():
    vocab = data.CharVocab.from_text("abcab")
    tokens = vocab.encode("abcab")
    assert len(vocab) == 3 and vocab.decode(tokens) == "abcab"
    windows = data.TextWindows(tokens, 2)
    x, y = next(iter(data.DataLoader(windows, batch_size=3)))
    assert x.tolist() == [[0, 1], [1, 2], [2, 0]]
    assert y.tolist() == [[1, 2], [2, 0], [0, 1]]
    with pytest.raises(ValueError):
        data.read_idx("/nonexistent.idx")


@pytest.mark.parametrize("workers", [0, 2])
def test_python_collate_fn(workers):
    def pad_to_four(items):
        xs = [x for x, _ in items] + [anneal.zeros(2)] * (4 - len(items))
        ys = [int(y) for _, y in items] + [-1] * (4 - len(items))
        return anneal.stack(xs), anneal.tensor(ys)

    loader = data.DataLoader(Squares(6), batch_size=4, num_workers=workers, collate_fn=pad_to_four)
    assert collect(loader) == [[0, 1, 2, 3], [4, 5, -1, -1]]


def test_pin_memory_gives_the_same_batches():
    ds = data.TensorDataset(anneal.arange(40).reshape(20, 2).float(), anneal.arange(20))
    ref = collect(data.DataLoader(ds, batch_size=6, shuffle=True, seed=2))
    pinned = list(data.DataLoader(ds, batch_size=6, shuffle=True, seed=2, num_workers=2, pin_memory=True))
    assert [y.tolist() for _, y in pinned] == ref
    assert all(x.is_pinned() == anneal.cuda.is_available() for x, _ in pinned)
    t = anneal.ones(3)
    if not anneal.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            t.pin_memory()
    else:
        assert t.pin_memory().is_pinned() and not t.is_pinned()


def test_summary_writer_writes_event_files_tensorboard_reads(tmp_path):
    import struct

    from anneal.utils.tensorboard import SummaryWriter, crc32c, masked_crc32c
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    with SummaryWriter(tmp_path) as w:
        for i in range(3):
            w.add_scalar("loss/train", 1.0 / (i + 1), i)
        w.add_scalars("acc", {"a": 0.5, "b": anneal.tensor(0.25)}, 7)
        w.add_text("note", "hello")
        with pytest.raises(NotImplementedError):
            w.add_image("x", anneal.zeros(3, 2, 2))
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name.startswith("events.out.tfevents.")
    data = files[0].read_bytes()
    records, pos = [], 0
    while pos < len(data):  # TFRecord framing: length, its masked CRC, data, the data's masked CRC
        (n,) = struct.unpack("<Q", data[pos:pos + 8])
        assert struct.unpack("<I", data[pos + 8:pos + 12])[0] == masked_crc32c(data[pos:pos + 8])
        body = data[pos + 12:pos + 12 + n]
        assert struct.unpack("<I", data[pos + 12 + n:pos + 16 + n])[0] == masked_crc32c(body)
        records.append(body)
        pos += 16 + n
    assert len(records) == 1 + 3 + 2 + 1 and b"brain.Event:2" in records[0]
    assert b"loss/train" in records[1] and struct.pack("<f", 0.5) in records[2] and b"acc/b" in records[5]
    assert b"hello" in records[6]
