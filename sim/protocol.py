"""The ports of a generated array as its drivers see them, defined once, and a stimulus prepared for them.

Every array of :mod:`hw.arrays` has a clock :data:`CLOCK_PORT`, a synchronous reset :data:`RESET_PORT` and
``lib.stream`` interfaces that Amaranth flattens into ``<stream>__valid``, ``<stream>__ready`` and
``<stream>__payload`` (:class:`StreamPorts`): :data:`INPUT_STREAM` takes activation beats,
:data:`WEIGHT_STREAM` (stationary dataflow only) weight-tile loads, :data:`OUTPUT_STREAM` returns the ``M``
sums of every finished reduction. The rules both drivers follow:

- an operation is offered on the stream :data:`OP_STREAMS` names for its :class:`sim.stimulus.Op`, only
  after the operation before it completed (so a beat never overtakes a load); it completes at the rising
  edge after a cycle in which its ``valid`` and ``ready`` were both high;
- an output is taken at the rising edge after a cycle in which ``o_stream``'s ``valid`` and ``ready`` were
  both high;
- a reset holds ``rst`` high for :data:`RESET_CYCLES` cycles with every input stream idle.

:func:`prepare` turns a :class:`sim.stimulus.Stimulus` into a :class:`PreparedStimulus`: the operations,
their payload words, the model's sums and a decoder of output words. The cocotb bench
(:func:`sim.bench.run_prepared`) and the gate-level NumPy simulator (``energy.gates.gatesim``) drive it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.layout import pack_output, unpack_output
from hw.params import ArrayParams
from sim.stimulus import Expected, Op, Stimulus, expected_outputs, payloads

#: The clock and the synchronous reset of every generated array.
CLOCK_PORT, RESET_PORT = "clk", "rst"
#: Cycles a reset holds ``rst`` high (at start-up and for every reset operation).
RESET_CYCLES = 2


@dataclass(frozen=True)
class StreamPorts:
    """The port names of one ``lib.stream`` interface named ``name`` after Amaranth flattened it."""

    name: str

    @property
    def valid(self) -> str:
        return f"{self.name}__valid"

    @property
    def ready(self) -> str:
        return f"{self.name}__ready"

    @property
    def payload(self) -> str:
        return f"{self.name}__payload"


INPUT_STREAM = StreamPorts("i_stream")
WEIGHT_STREAM = StreamPorts("w_stream")
OUTPUT_STREAM = StreamPorts("o_stream")
#: The stream that carries each kind of operation (a reset drives :data:`RESET_PORT` instead).
OP_STREAMS = {Op.BEAT: INPUT_STREAM, Op.LOAD: WEIGHT_STREAM}


def input_streams(params: ArrayParams) -> dict[Op, StreamPorts]:
    """The input streams of an array with ``params``: ``i_stream``, and ``w_stream`` when stationary."""
    if params.dataflow == "stationary":
        return dict(OP_STREAMS)
    return {Op.BEAT: INPUT_STREAM}


@dataclass(frozen=True)
class PreparedStimulus:
    """A stimulus in the form its drivers step through, op by op.

    Members
    -------
    params : ArrayParams
        The array the stimulus is for.
    stimulus : Stimulus
        The operations as NumPy data.
    kinds : list of Op
        The kind of every operation.
    words : list of int
        The payload of every operation on its stream (:data:`OP_STREAMS`; 0 for a reset).
    last, drain : list of bool
        The ``last`` flag of every beat; for a reset, whether it waits for the finished sums first.
    expected : Expected
        The model's sums, segment by segment (:func:`sim.stimulus.expected_outputs`).
    output_words : list of int
        The ``o_stream`` payload of every expected output, in order (:func:`hw.layout.pack_output`), so a
        driver compares words and decodes only a mismatch.
    """

    params: ArrayParams
    stimulus: Stimulus
    kinds: list[Op]
    words: list[int]
    last: list[bool]
    drain: list[bool]
    expected: Expected
    output_words: list[int]

    def __len__(self) -> int:
        return len(self.kinds)

    @property
    def streams(self) -> dict[Op, StreamPorts]:
        """The input streams of the array, by the kind of operation each carries."""
        return input_streams(self.params)

    @property
    def sums(self) -> np.ndarray:
        """Every output the model expects, ``(outputs, M)`` int64, in order (segment after segment)."""
        return np.concatenate(self.expected.sums)

    def decode(self, word: int) -> np.ndarray:
        """The ``M`` sums ``(M,)`` of one ``o_stream`` payload word."""
        return unpack_output(self.params, word).reshape(self.params.rows)

    def decode_all(self, words: list[int]) -> np.ndarray:
        """The sums ``(len(words), M)`` of several ``o_stream`` payload words."""
        if not words:
            return np.zeros((0, self.params.rows), np.int64)
        return unpack_output(self.params, words).reshape(len(words), self.params.rows)

    def beat_number(self, op: int) -> int:
        """The number (from 0) of the beat that operation ``op`` is, among the beats of the stimulus."""
        return int(np.count_nonzero(self.stimulus.kind[: op + 1] == Op.BEAT)) - 1


def prepare(params: ArrayParams, stimulus: Stimulus) -> PreparedStimulus:
    """The payload words and the model's sums of ``stimulus`` on an array with ``params``.

    Raises ``TypeError`` for arguments of the wrong type and ``ValueError`` for weight loads on an array of
    the stream dataflow (it has no ``w_stream``).
    """
    if not isinstance(params, ArrayParams):
        raise TypeError(f"params must be an ArrayParams, got {type(params).__name__}")
    if not isinstance(stimulus, Stimulus):
        raise TypeError(f"stimulus must be a sim.stimulus.Stimulus, got {type(stimulus).__name__}")
    if params.dataflow != "stationary" and np.any(stimulus.kind == Op.LOAD):
        raise ValueError("stimulus holds weight loads, but the array's dataflow is 'stream' (no w_stream)")
    expected = expected_outputs(params, stimulus)
    sums = np.concatenate(expected.sums)
    return PreparedStimulus(
        params=params,
        stimulus=stimulus,
        kinds=stimulus.ops(),
        words=payloads(params, stimulus),
        last=stimulus.last.tolist(),
        drain=stimulus.drain.tolist(),
        expected=expected,
        output_words=pack_output(params, sums) if len(sums) else [],
    )
