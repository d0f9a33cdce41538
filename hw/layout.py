"""The port bit layouts of every MAC array, and the host-side helpers that pack and unpack them.

One definition serves the RTL and its users: the Amaranth layouts below are the payload shapes of the
arrays' streams, and the NumPy helpers read their field offsets from those same layout objects, so a
testbench (``sim/``), a scheduler or an energy model packs beats exactly as the hardware unpacks them.

Ports (Verilog names; every array has the same ones)
-----------------------------------------------------
``clk``, ``rst``
    Clock (rising edge) and synchronous active-high reset; reset clears every register, including the
    accumulators and the stationary weight tile (to all-zero weights), and no handshake completes
    while ``rst`` is high (every ``ready`` is low, ``o_stream__valid`` is low).
``i_stream__payload``, ``i_stream__valid``, ``i_stream__ready``
    Input beats (sink). The payload is the struct :func:`input_layout`, fields from bit 0 upwards:

    ``act``    bits ``[N*a - 1 : 0]``: lane ``i`` at ``[a*i + a - 1 : a*i]``, signed two's complement
               (fp16: ``a = 16``, an IEEE binary16 bit pattern);
    ``weight`` (``dataflow="stream"`` only) the ``M x N`` tile, ``T = M * N * wb`` bits at
               ``[N*a + T - 1 : N*a]`` laid out as :func:`tile_layout`;
    ``last``   the top bit: this beat closes the K-reduction, its sums go to the output.
``w_stream__payload``, ``w_stream__valid``, ``w_stream__ready`` (``dataflow="stationary"`` only)
    Weight-tile loads (sink). The payload is :func:`weight_load_layout`: one field ``weight``, a whole
    tile laid out as :func:`tile_layout` at bits ``[T - 1 : 0]``. ``ready`` is high except in reset, so a
    tile loads in one cycle. An activation beat is multiplied by the tile most recently loaded *before*
    the cycle in which the beat is transferred: a beat transferred in the same cycle as a load still sees
    the previous tile. Loading between the beats of one reduction is allowed.
``o_stream__payload``, ``o_stream__valid``, ``o_stream__ready``
    Output sums (source). The payload is :func:`output_layout`: row ``r``'s sum at
    ``[W*r + W - 1 : W*r]``, signed two's complement, ``W`` = :attr:`~hw.params.ArrayParams.acc_width`
    (fp16: ``W = 16``, an IEEE binary16 bit pattern).
    ``valid`` is a register ANDed with ``~rst``; the payload is a register.

Weight tile
    Element ``(r, i)`` (row ``r``, lane ``i``) is element ``r*N + i`` of the row-major flattened tile, at
    bits ``[wb*(r*N + i) + wb - 1 : wb*(r*N + i)]``. Ternary arrays: ``wb = 2``, the code of
    :mod:`model.encoding` (bit 0 nonzero, bit 1 negative; the tile is ``model.encoding.codes_to_int`` of
    the flattened codes); the RTL treats the invalid code ``0b10`` as zero. Int8 array: ``wb = 8``, signed
    two's complement. FP16 array: ``wb = 16``, an IEEE binary16 bit pattern. Ternary-lut array: the
    fields are group codes (:mod:`model.group_code`), ``F = ceil(N / G)`` per row: field ``(r, j)`` (row
    ``r``, group ``j`` = lanes ``G*j .. G*j + G - 1``) at bits ``[wb*(r*F + j) + wb - 1 : wb*(r*F + j)]``,
    ``wb`` = the code bits (4, 5, 7, 8 for ``G`` = 2..5): the index at the low ``wb - 1`` bits, the sign on
    top. The host re-encodes ternary weights (:func:`tile_elements`); the RTL reads an invalid code as a
    zero group.

FP16 values on the host. The helpers take binary16 operands either as bit patterns (integer arrays of
0..65535) or as ``float16`` arrays (their bits are used); :func:`unpack_output` returns the sums' bit
patterns as int64 (``.astype(np.uint16).view(np.float16)`` gives the values), so NaNs and signed zeros
compare exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from amaranth.hdl import ShapeLike, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.params import ArrayParams
from model.encoding import CODE_BITS, NEGATIVE_BIT, NONZERO_BIT, check_ternary, encode_ternary
from model.fp16 import FP16_BITS, check_bits
from model.group_code import encode_groups, index_bits

#: Widest field the NumPy helpers pack or unpack (they compute in int64/uint64).
MAX_FIELD_BITS = 63

# --- Amaranth layouts ------------------------------------------------------------------------------------


def ternary_code_layout() -> data.FlexibleLayout:
    """The 2-bit weight code: ``nonzero`` and ``negative`` at the bits :mod:`model.encoding` names."""
    return data.FlexibleLayout(
        CODE_BITS,
        {"nonzero": data.Field(unsigned(1), NONZERO_BIT), "negative": data.Field(unsigned(1), NEGATIVE_BIT)},
    )


def group_code_layout(group: int) -> data.StructLayout:
    """A group code of the LUT engine: ``index`` (bits ``[I-1 : 0]``) and ``sign`` (bit ``I``), as
    :mod:`model.group_code` defines them."""
    return data.StructLayout({"index": unsigned(index_bits(group)), "sign": unsigned(1)})


def weight_shape(params: ArrayParams) -> ShapeLike:
    """The shape of one weight field on a port: the ternary code layout, the group code layout
    (ternary-lut), ``signed(8)`` (int8), ``unsigned(16)`` (fp16: a binary16 bit pattern)."""
    if params.is_float:
        return unsigned(FP16_BITS)
    if params.array == "ternary-lut":
        return group_code_layout(params.group)
    return ternary_code_layout() if params.array == "ternary" else signed(params.weight_bits)


def tile_layout(params: ArrayParams) -> data.ArrayLayout:
    """An ``M x N`` weight tile: ``tile[r][i]`` is the weight of row ``r``, lane ``i`` (ternary-lut:
    ``tile[r][j]`` is the code of row ``r``'s group ``j``, lanes ``G*j .. G*j + G - 1``)."""
    return data.ArrayLayout(data.ArrayLayout(weight_shape(params), params.weight_fields), params.rows)


def act_layout(params: ArrayParams) -> data.ArrayLayout:
    """The activation vector: ``act[i]`` is lane ``i``, ``signed(act_width)`` (fp16: ``unsigned(16)``)."""
    return data.ArrayLayout(_number_shape(params, params.act_width), params.lanes)


def _number_shape(params: ArrayParams, width: int) -> ShapeLike:
    return unsigned(FP16_BITS) if params.is_float else signed(width)


def input_layout(params: ArrayParams) -> data.StructLayout:
    """Payload of ``i_stream``: ``act``, then ``weight`` (stream dataflow only), then ``last``."""
    fields: dict[str, object] = {"act": act_layout(params)}
    if params.dataflow == "stream":
        fields["weight"] = tile_layout(params)
    fields["last"] = unsigned(1)
    return data.StructLayout(fields)


def weight_load_layout(params: ArrayParams) -> data.StructLayout:
    """Payload of ``w_stream`` (stationary dataflow): one field, ``weight``, a whole tile."""
    return data.StructLayout({"weight": tile_layout(params)})


def output_layout(params: ArrayParams) -> data.StructLayout:
    """Payload of ``o_stream``: ``sums[r]`` is row ``r``'s sum, ``signed(acc_width)``; fp16: ``unsigned(16)``,
    a binary16 bit pattern."""
    return data.StructLayout({"sums": data.ArrayLayout(_number_shape(params, params.acc_width), params.rows)})


def array_signature(params: ArrayParams) -> wiring.Signature:
    """The signature of a MAC array: ``i_stream`` and ``o_stream``, plus ``w_stream`` when stationary."""
    members = {"i_stream": In(stream.Signature(input_layout(params)))}
    if params.dataflow == "stationary":
        members["w_stream"] = In(stream.Signature(weight_load_layout(params)))
    members["o_stream"] = Out(stream.Signature(output_layout(params)))
    return wiring.Signature(members)


def port_fields(params: ArrayParams) -> dict[str, dict[str, tuple[int, int]]]:
    """``{port: {field: (msb, lsb)}}`` of every packed payload, read from the layouts above."""
    payloads = {"i_stream__payload": input_layout(params)}
    if params.dataflow == "stationary":
        payloads["w_stream__payload"] = weight_load_layout(params)
    payloads["o_stream__payload"] = output_layout(params)
    result = {}
    for port, layout in payloads.items():
        result[port] = {name: (f.offset + f.width - 1, f.offset) for name, f in layout}
    return result


# --- generic field packing ---------------------------------------------------------------------------------


def _check_width(width: int) -> None:
    if not 1 <= width <= MAX_FIELD_BITS:
        raise ValueError(f"width must be in [1, {MAX_FIELD_BITS}], got {width}")


def pack_fields(values: np.ndarray, width: int) -> int | list[int]:
    """Pack the last axis of ``values`` little-endian, element ``i`` at bits ``[w*i + w - 1 : w*i]``.

    Values are taken modulo ``2**width`` (two's complement for negatives). A 1-D array gives one ``int``;
    a 2-D array ``(B, count)`` gives a list of ``B`` ints. Vectorized: about a microsecond per kilobit.
    """
    _check_width(width)
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"values must have an integer dtype, not {values.dtype}")
    if values.ndim not in (1, 2):
        raise ValueError(f"values must be 1-D or 2-D, got shape {values.shape}")
    bits = _field_bits(values.reshape(-1, values.shape[-1]), width)
    packed = np.packbits(bits, axis=-1, bitorder="little")
    ints = [int.from_bytes(row.tobytes(), "little") for row in packed]
    return ints[0] if values.ndim == 1 else ints


def unpack_fields(packed: int | Sequence[int], count: int, width: int, *, signed: bool) -> np.ndarray:
    """Inverse of :func:`pack_fields`: ``count`` fields of ``width`` bits from an int (or a sequence of ints).

    Returns int64, shape ``(count,)`` for one int or ``(B, count)`` for ``B`` ints. Bits above
    ``count * width`` must be zero.
    """
    _check_width(width)
    single = isinstance(packed, (int, np.integer))
    ints = [int(packed)] if single else [int(p) for p in packed]
    total = count * width
    nbytes = (total + 7) // 8
    buffer = bytearray()
    for value in ints:
        if value < 0 or value >> total:
            raise ValueError(f"packed value does not fit in {count} fields of {width} bits")
        buffer += value.to_bytes(nbytes, "little")
    raw = np.frombuffer(bytes(buffer), dtype=np.uint8).reshape(len(ints), nbytes)
    bits = np.unpackbits(raw, axis=-1, bitorder="little")[:, :total].reshape(len(ints), count, width)
    weights = np.left_shift(np.int64(1), np.arange(width, dtype=np.int64))
    if signed:  # two's complement: the top bit weighs -2**(width - 1)
        weights[-1] = -weights[-1]
    fields = (bits.astype(np.int64) * weights).sum(axis=-1)
    return fields[0] if single else fields


# --- array payloads ----------------------------------------------------------------------------------------


def _as_int_array(values: object, name: str) -> np.ndarray:
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array, not {array.dtype}")
    return array


def _check_activations(params: ArrayParams, act: object) -> np.ndarray:
    act = check_bits(act, "act").astype(np.int64) if params.is_float else _as_int_array(act, "act")
    if act.ndim not in (1, 2) or act.shape[-1] != params.lanes:
        raise ValueError(f"act must have shape ({params.lanes},) or (beats, {params.lanes}), got {act.shape}")
    if params.is_float:
        return act
    if ((act < params.act_min) | (act > params.act_max)).any():
        raise ValueError(
            f"act must hold signed {params.act_width}-bit values in [{params.act_min}, {params.act_max}]"
        )
    return act


def tile_elements(params: ArrayParams, weights: object, *, codes: bool = False) -> np.ndarray:
    """The port value of every weight of a tile (or a batch of tiles), flattened row-major per tile.

    Parameters
    ----------
    weights : array of shape ``(M, N)`` or ``(B, M, N)``
        Ternary weights in {-1, 0, +1} (ternary array), int8 values (int8 array), binary16 bit patterns or
        float16 values (fp16 array), or, with ``codes=True`` on a ternary array, raw 2-bit codes 0..3
        (``0b10`` included: the RTL reads it as zero).

        Ternary-lut array: ternary weights, re-encoded here to group codes
        (:func:`model.group_code.encode_groups`), or with ``codes=True`` the raw group codes ``(M, ceil(N /
        G))`` (invalid ones included: the RTL reads them as a zero group).

    Returns
    -------
    numpy.ndarray
        ``(M*F,)`` or ``(B, M*F)`` int64 (``F`` = :attr:`~hw.params.ArrayParams.weight_fields`): codes from
        :func:`model.encoding.encode_ternary` or :func:`model.group_code.encode_groups`, int8 values or
        binary16 bit patterns.
    """
    if params.array == "ternary-lut":
        return _group_elements(params, weights, codes=codes)
    if params.is_float:
        if codes:
            raise ValueError("codes=True applies to ternary arrays only")
        weights = check_bits(weights, "weights").astype(np.int64)
    else:
        weights = _as_int_array(weights, "weights")
    shape = (params.rows, params.lanes)
    if weights.ndim not in (2, 3) or weights.shape[-2:] != shape:
        raise ValueError(f"weights must have shape {shape} or (beats, *{shape}), got {weights.shape}")
    if params.array == "ternary":
        if codes:
            if ((weights < 0) | (weights > (1 << CODE_BITS) - 1)).any():
                raise ValueError(f"weights must hold {CODE_BITS}-bit codes (0..3) when codes=True")
            elements = weights
        else:
            elements = encode_ternary(check_ternary(weights, "weights"))
    elif params.is_float:
        elements = weights
    else:
        if codes:
            raise ValueError("codes=True applies to ternary arrays only")
        if ((weights < params.weight_min) | (weights > params.weight_max)).any():
            raise ValueError(f"weights must hold int8 values in [{params.weight_min}, {params.weight_max}]")
        elements = weights
    return elements.astype(np.int64).reshape(*weights.shape[:-2], -1)


def _group_elements(params: ArrayParams, weights: object, *, codes: bool) -> np.ndarray:
    weights = _as_int_array(weights, "weights")
    shape = (params.rows, params.weight_fields if codes else params.lanes)
    if weights.ndim not in (2, 3) or weights.shape[-2:] != shape:
        raise ValueError(f"weights must have shape {shape} or (beats, *{shape}), got {weights.shape}")
    if codes:
        if ((weights < 0) | (weights >= 1 << params.weight_bits)).any():
            raise ValueError(f"weights must hold {params.weight_bits}-bit group codes when codes=True")
        elements = weights.astype(np.int64)
    else:
        elements = encode_groups(check_ternary(weights, "weights"), params.group)
    return elements.reshape(*weights.shape[:-2], -1)


def pack_tile(params: ArrayParams, weights: object, *, codes: bool = False) -> int | list[int]:
    """Pack an ``(M, N)`` tile (or ``(B, M, N)`` tiles) into the ``weight`` field's integer(s)."""
    return pack_fields(tile_elements(params, weights, codes=codes), params.weight_bits)


def pack_activations(params: ArrayParams, act: object) -> int | list[int]:
    """Pack an activation vector ``(N,)`` (or ``(B, N)`` vectors) into the ``act`` field's integer(s)."""
    return pack_fields(_check_activations(params, act), params.act_width)


def pack_input(
    params: ArrayParams, act: object, weights: object = None, last: object = False, *, codes: bool = False
) -> int | list[int]:
    """The ``i_stream`` payload integer(s) of one beat or of ``B`` beats.

    Parameters
    ----------
    act : array ``(N,)`` or ``(B, N)``
        Activations, signed ``act_width``-bit values (fp16: binary16 bit patterns or float16 values).
    weights : array ``(M, N)`` or ``(B, M, N)``, optional
        The weight tile of each beat; required for ``dataflow="stream"``, refused for ``"stationary"``.
    last : bool or array ``(B,)`` of bool
        The ``last`` flag of each beat.
    codes : bool
        ``weights`` are raw ternary codes (see :func:`tile_elements`).
    """
    layout = input_layout(params)
    act = _check_activations(params, act)
    batch = act.ndim == 2
    beats = act.shape[0] if batch else 1
    act_ints = pack_fields(act.reshape(beats, -1), params.act_width)
    if params.dataflow == "stream":
        if weights is None:
            raise ValueError("weights are required for dataflow='stream'")
        weights = np.asarray(weights) if params.is_float else _as_int_array(weights, "weights")
        columns = params.weight_fields if codes and params.array == "ternary-lut" else params.lanes
        expected = (beats, params.rows, columns) if batch else (params.rows, columns)
        if weights.shape != expected:
            raise ValueError(f"weights must have shape {expected} to match act, got {weights.shape}")
        tile_ints = pack_fields(
            tile_elements(params, weights.reshape(beats, params.rows, columns), codes=codes),
            params.weight_bits,
        )
        weight_offset = layout["weight"].offset
    elif weights is not None:
        raise ValueError("weights must be None for dataflow='stationary' (load tiles with pack_weight_load)")
    else:
        tile_ints = [0] * beats
        weight_offset = 0
    last_array = np.broadcast_to(np.asarray(last), (beats,))
    if last_array.dtype != np.bool_ and not np.isin(last_array, (0, 1)).all():
        raise ValueError("last must be a bool or an array of bools")
    last_offset = layout["last"].offset
    payloads = [
        a | (t << weight_offset) | (int(bool(flag)) << last_offset)
        for a, t, flag in zip(act_ints, tile_ints, last_array.tolist(), strict=True)
    ]
    return payloads if batch else payloads[0]


def pack_weight_load(params: ArrayParams, weights: object, *, codes: bool = False) -> int | list[int]:
    """The ``w_stream`` payload integer(s) loading a tile ``(M, N)`` (or ``B`` tiles); stationary only."""
    if params.dataflow != "stationary":
        raise ValueError("pack_weight_load applies to dataflow='stationary' only")
    return pack_tile(params, weights, codes=codes)


def pack_output(params: ArrayParams, sums: object) -> int | list[int]:
    """The ``o_stream`` payload(s) presenting ``sums`` ``(M,)`` or ``(B, M)``: the inverse of
    :func:`unpack_output` (signed sums in two's complement; FP16 arrays: binary16 bit patterns)."""
    return pack_fields(_as_int_array(sums, "sums"), params.acc_width)


def unpack_output(params: ArrayParams, payload: int | Sequence[int]) -> np.ndarray:
    """The ``M`` signed sums of one ``o_stream`` payload (``(M,)``) or of several (``(B, M)``), int64.

    FP16 arrays: the sums' binary16 bit patterns, 0..65535.
    """
    return unpack_fields(payload, params.rows, params.acc_width, signed=not params.is_float)


# --- payloads as 32-bit words (compiled harnesses) ----------------------------------------------------------

#: Bits per word of the word arrays below: Verilator's ``EData``, word ``w`` holding bits ``[32w+31 : 32w]``.
WORD_BITS = 32


def port_words(width: int) -> int:
    """32-bit words holding a ``width``-bit port."""
    return -(-width // WORD_BITS)


def _field_bits(values: np.ndarray, width: int) -> np.ndarray:
    """``(B, count)`` integers as ``(B, count * width)`` bits (uint8), field ``i`` at ``[w*i + w - 1 : w*i]``
    and values taken modulo ``2**width``."""
    _check_width(width)
    values = np.asarray(values)
    size = next(size for size in (1, 2, 4, 8) if 8 * size >= width)
    masked = values.astype(np.int64).view(np.uint64) & np.uint64((1 << width) - 1)
    raw = masked.astype(f"<u{size}").view(np.uint8).reshape(*values.shape, size)
    bits = np.unpackbits(raw, axis=-1, bitorder="little")[..., :width]
    return bits.reshape(values.shape[0], -1)


def _field_bytes(values: np.ndarray, width: int, *, final: bool) -> np.ndarray | None:
    """``(B, count)`` integers packed as :func:`_field_bits` would, but as bytes ``(B, ceil(count * width
    / 8))``, when that needs no bit shuffling: ``width`` of 8, 16, 32 or 64 bits, or a divisor of 8 with
    whole bytes (or any count for the ``final`` field, padded with zero bits). ``None`` otherwise."""
    count = values.shape[1]
    masked = values.astype(np.int64).view(np.uint64) & np.uint64((1 << width) - 1)
    if width in (8, 16, 32, 64):
        return masked.astype(f"<u{width // 8}").view(np.uint8).reshape(len(values), -1)
    per_byte = 8 // width if 8 % width == 0 else 0
    if not per_byte or (count % per_byte and not final):
        return None
    padded = np.zeros((len(values), -(-count // per_byte) * per_byte), np.uint8)
    padded[:, :count] = masked
    shifts = (np.arange(per_byte) * width).astype(np.uint8)
    return np.bitwise_or.reduce(padded.reshape(len(values), -1, per_byte) << shifts, axis=-1)


def _payload_words(fields: list[tuple[np.ndarray, int]], width: int) -> np.ndarray:
    """Fields ``(values (B, count), width)`` packed one after the other from bit 0, as ``(B,
    port_words(width))`` little-endian uint32 words (bytes directly when every field allows it)."""
    rows = len(fields[0][0])
    parts = [_field_bytes(v, w, final=i == len(fields) - 1) for i, (v, w) in enumerate(fields)]
    if any(part is None for part in parts):
        bits = np.concatenate([_field_bits(v, w) for v, w in fields], axis=1)
        padded_bits = np.zeros((rows, port_words(width) * WORD_BITS), np.uint8)
        padded_bits[:, : bits.shape[1]] = bits
        return np.packbits(padded_bits, axis=-1, bitorder="little").view("<u4")
    packed = np.concatenate(parts, axis=1)
    padded = np.zeros((rows, port_words(width) * WORD_BITS // 8), np.uint8)
    padded[:, : packed.shape[1]] = packed
    return padded.view("<u4")


def input_words(params: ArrayParams, act: object, weights: object, last: object) -> np.ndarray:
    """The ``i_stream`` payloads of ``B`` beats as ``(B, port_words(width))`` uint32: the words of
    :func:`pack_input` (``act`` ``(B, N)``, ``weights`` ``(B, M, N)`` or ``None`` when stationary,
    ``last`` ``(B,)``), packed without Python integers."""
    layout = input_layout(params)
    act = _check_activations(params, act).reshape(-1, params.lanes)
    fields = [(act, params.act_width)]
    if params.dataflow == "stream":
        if weights is None:
            raise ValueError("weights are required for dataflow='stream'")
        tiles = np.asarray(weights)
        if tiles.shape != (act.shape[0], params.rows, params.lanes):
            expected = (act.shape[0], params.rows, params.lanes)
            raise ValueError(f"weights must have shape {expected} to match act, got {tiles.shape}")
        fields.append((tile_elements(params, tiles), params.weight_bits))
    elif weights is not None:
        raise ValueError("weights must be None for dataflow='stationary' (load tiles with weight_load_words)")
    last = np.broadcast_to(np.asarray(last, bool), (act.shape[0],))
    fields.append((last.astype(np.int64)[:, None], 1))
    return _payload_words(fields, layout.size)


def weight_load_words(params: ArrayParams, tiles: object) -> np.ndarray:
    """The ``w_stream`` payloads loading ``B`` tiles ``(B, M, N)`` as ``(B, port_words(width))`` uint32."""
    if params.dataflow != "stationary":
        raise ValueError("weight_load_words applies to dataflow='stationary' only")
    elements = tile_elements(params, np.asarray(tiles).reshape(-1, params.rows, params.lanes))
    return _payload_words([(elements, params.weight_bits)], weight_load_layout(params).size)


def act_field_bytes(params: ArrayParams, act: object) -> np.ndarray | None:
    """The ``act`` field of ``R`` activation vectors ``(R, N)`` as whole bytes ``(R, N * a / 8)``, or
    ``None`` when the field does not fill whole bytes (then pack with :func:`input_words`)."""
    act = _check_activations(params, act).reshape(-1, params.lanes)
    return _field_bytes(act, params.act_width, final=False)


def tile_field_bytes(params: ArrayParams, tiles: object) -> np.ndarray | None:
    """``R`` weight tiles ``(R, M, N)`` as the whole bytes ``(R, T / 8)`` of the ``weight`` field, or
    ``None`` when the tile does not fill whole bytes."""
    elements = tile_elements(params, np.asarray(tiles).reshape(-1, params.rows, params.lanes))
    return _field_bytes(elements, params.weight_bits, final=False)


def words_from_field_bytes(
    width: int, fields: list[np.ndarray], last: np.ndarray | None = None
) -> np.ndarray:
    """A ``width``-bit payload assembled from whole-byte fields ``(R, bytes)`` in order from bit 0 (from
    :func:`act_field_bytes`, :func:`tile_field_bytes`), then the ``last`` bit when given, as
    ``(R, port_words(width))`` uint32 words: for building many payloads from a few distinct fields."""
    rows = len(fields[0])
    parts = [*fields, *([] if last is None else [np.asarray(last, np.uint8).reshape(rows, 1)])]
    used = sum(part.shape[1] for part in fields) * 8 + (0 if last is None else 1)
    if used != width:
        raise ValueError(f"fields: {used} bits do not make a width={width}-bit payload")
    padded = np.zeros((rows, port_words(width) * WORD_BITS // 8), np.uint8)
    offset = 0
    for part in parts:
        padded[:, offset : offset + part.shape[1]] = part
        offset += part.shape[1]
    return padded.view("<u4")


def output_sums(params: ArrayParams, words: np.ndarray) -> np.ndarray:
    """The ``(B, M)`` int64 sums of ``B`` ``o_stream`` payloads given as ``(B, port_words(width))`` uint32
    (the inverse of the packing of :func:`pack_output`; FP16 arrays: binary16 bit patterns)."""
    width, rows = params.acc_width, params.rows
    words = np.ascontiguousarray(words, dtype="<u4")
    if words.ndim != 2 or words.shape[1] != port_words(output_layout(params).size):
        raise ValueError(
            f"words must have shape (B, {port_words(output_layout(params).size)}), got {words.shape}"
        )
    bits = np.unpackbits(words.view(np.uint8), axis=-1, bitorder="little")[:, : rows * width]
    fields = bits.reshape(len(words), rows, width).astype(np.int64)
    weights = np.left_shift(np.int64(1), np.arange(width, dtype=np.int64))
    if not params.is_float:
        weights[-1] = -weights[-1]
    return fields @ weights
