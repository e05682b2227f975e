"""anneal.utils.tensorboard: SummaryWriter as torch.utils.tensorboard's for scalars and
text, writing TensorBoard event files itself (TFRecord framing with masked CRC-32C around
hand-encoded `Event` protobufs), so `tensorboard --logdir` shows the curves without the
tensorboard package installed. Inside an `anneal run`, scalars also go to the run's record
(anneal.tracking). Images, histograms, graphs and embeddings are not written (each is a
clear NotImplementedError)."""
import os
import socket
import struct
import time

_CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)
del _n, _c


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc32c(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number, wire, payload):
    return _varint((number << 3) | wire) + payload


def _bytes_field(number, data):
    return _field(number, 2, _varint(len(data)) + data)


def _event(wall_time, step=None, file_version=None, summary=None):
    e = _field(1, 1, struct.pack("<d", wall_time))
    if step is not None:
        e += _field(2, 0, _varint(int(step)))
    if file_version is not None:
        e += _bytes_field(3, file_version.encode())
    if summary is not None:
        e += _bytes_field(5, summary)
    return e


def _scalar_summary(tag, value):
    v = _bytes_field(1, tag.encode()) + _field(2, 5, struct.pack("<f", float(value)))
    return _bytes_field(1, v)


def _text_summary(tag, text):
    # Summary.Value{tag, metadata{plugin_data{plugin_name: "text"}}, tensor{dtype: DT_STRING, string_val}}
    plugin = _bytes_field(1, b"text")
    metadata = _bytes_field(1, plugin)
    tensor = _field(1, 0, _varint(7)) + _bytes_field(8, text.encode())  # dtype DT_STRING, a scalar string_val
    v = _bytes_field(1, tag.encode()) + _bytes_field(9, metadata) + _bytes_field(8, tensor)
    return _bytes_field(1, v)


def _record(data):
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


def _number(value):
    if hasattr(value, "item"):
        value = value.item()
    return float(value)


class SummaryWriter:
    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120, filename_suffix=""):
        if log_dir is None:
            stamp = time.strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = str(log_dir)
        os.makedirs(self.log_dir, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.0{filename_suffix}"
        self._path = os.path.join(self.log_dir, name)
        self._file = open(self._path, "ab")
        self._file.write(_record(_event(time.time(), file_version="brain.Event:2")))
        self._file.flush()
        self._flush_secs, self._last_flush = flush_secs, time.time()
        self._step = {}

    def get_logdir(self):
        return self.log_dir

    def _write(self, summary, step, walltime):
        if self._file is None:
            raise RuntimeError("SummaryWriter is closed")
        self._file.write(_record(_event(time.time() if walltime is None else walltime, step, summary=summary)))
        if time.time() - self._last_flush >= self._flush_secs:
            self.flush()

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False, double_precision=False):
        value = _number(scalar_value)
        step = self._next_step(tag, global_step)
        self._write(_scalar_summary(tag, value), step, walltime)
        try:
            from anneal import tracking
            if tracking.active_run_id():
                tracking.log_metric(tag.replace("/", "."), value, step=step)
        except (ImportError, AttributeError, RuntimeError):
            pass

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        for tag, value in tag_scalar_dict.items():
            self.add_scalar(f"{main_tag}/{tag}", value, global_step, walltime)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        self._write(_text_summary(tag, str(text_string)), self._next_step(tag, global_step), walltime)

    def _next_step(self, tag, global_step):
        if global_step is not None:
            return int(global_step)
        self._step[tag] = self._step.get(tag, -1) + 1
        return self._step[tag]

    def _unsupported(self, *args, **kwargs):
        raise NotImplementedError("anneal's SummaryWriter writes scalars and text only")

    add_image = add_images = add_histogram = add_graph = add_embedding = add_figure = add_audio = _unsupported
    add_video = add_pr_curve = add_mesh = add_hparams = add_custom_scalars = _unsupported

    def flush(self):
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._last_flush = time.time()

    def close(self):
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
