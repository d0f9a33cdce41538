"""energy.tables: the shipped data, user overrides and extensions, and malformed tables."""

import pandas as pd
import pytest

from energy.tables import EnergyTables, default_tables, load_tables, read_table

# The issue's table (pJ), written out here so that a changed data file fails a test.
ISSUE_OPS = {
    ("45nm", "add", "int8"): 0.03,
    ("45nm", "mul", "int8"): 0.2,
    ("45nm", "add", "int32"): 0.1,
    ("45nm", "mul", "int32"): 3.1,
    ("45nm", "add", "fp16"): 0.4,
    ("45nm", "mul", "fp16"): 1.1,
    ("45nm", "add", "fp32"): 0.9,
    ("45nm", "mul", "fp32"): 3.7,
    ("7nm", "add", "int8"): 0.007,
    ("7nm", "mul", "int8"): 0.07,
    ("7nm", "add", "int32"): 0.03,
    ("7nm", "mul", "int32"): 1.48,
    ("7nm", "add", "fp16"): 0.16,
    ("7nm", "mul", "fp16"): 0.34,
    ("7nm", "add", "bf16"): 0.11,
    ("7nm", "mul", "bf16"): 0.21,
    ("7nm", "add", "fp32"): 0.38,
    ("7nm", "mul", "fp32"): 1.31,
}
ISSUE_MEMORY = {
    ("45nm", "sram_8KB"): (10, 10),
    ("45nm", "sram_32KB"): (20, 20),
    ("45nm", "sram_1MB"): (100, 100),
    ("45nm", "dram_ddr"): (1300, 2600),
    ("7nm", "sram_8KB"): (7.5, 7.5),
    ("7nm", "sram_32KB"): (8.5, 8.5),
    ("7nm", "sram_1MB"): (14, 14),
    ("7nm", "dram_ddr"): (1300, 1300),
    ("7nm", "dram_hbm2"): (250, 450),
    ("7nm", "dram_gddr6"): (350, 480),
}


def test_ops_table_holds_exactly_the_issue_values_with_sources():
    tables = default_tables()
    assert len(tables.ops) == len(ISSUE_OPS)
    for (node, op, dtype), value in ISSUE_OPS.items():
        entry = tables.op(node, op, dtype)
        assert entry.value_pJ == value
        assert entry.rows == (f"ops:{node}/{op}/{dtype}",)
        assert entry.origins == ("energy/data/ops.csv",)
        expected_author = "Jouppi" if node == "7nm" else "Horowitz"
        assert expected_author in entry.sources[0]


def test_memory_table_holds_the_issue_ranges():
    tables = default_tables()
    assert len(tables.memory) == len(ISSUE_MEMORY)
    for (node, tier), (low, high) in ISSUE_MEMORY.items():
        assert tables.memory_access(node, tier, "low").value_pJ == low
        assert tables.memory_access(node, tier, "high").value_pJ == high
        assert tables.access_bits(node, tier) == 64
    assert tables.cheapest_tier("7nm", "dram") == "dram_hbm2"
    assert tables.cheapest_tier("45nm", "dram") == "dram_ddr"
    assert tables.largest_sram("7nm") == "sram_1MB"


def test_every_shipped_row_has_a_source():
    tables = default_tables()
    for frame in (tables.ops, tables.memory, tables.models, tables.table1):
        assert frame["source"].str.len().min() > 10


def test_describe_rows_gives_value_source_and_file():
    described = default_tables().describe_rows(["ops:7nm/add/int8", "memory:7nm/dram_hbm2"])
    assert list(described["value"]) == ["0.007 pJ per 8-bit add", "250-450 pJ per 64-bit access"]
    assert list(described["origin"]) == ["energy/data/ops.csv", "energy/data/memory.csv"]
    with pytest.raises(ValueError, match="rows"):
        default_tables().describe_rows(["ops:3nm/add/int8"])


def test_override_a_value_keeps_the_other_columns(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("node,op,dtype,energy_pJ,source\n7nm,add,int8,0.01,my synthesis run\n")
    tables = load_tables(ops=path)
    entry = tables.op("7nm", "add", "int8")
    assert entry.value_pJ == 0.01
    assert entry.sources == ("my synthesis run",)
    assert entry.origins == ("mine.csv",)
    assert tables.op_bits("7nm", "add", "int8") == 8
    # the shipped tables are unchanged
    assert default_tables().op("7nm", "add", "int8").value_pJ == 0.007


def test_add_a_node_from_toml(tmp_path):
    path = tmp_path / "node5.toml"
    rows = []
    for op, dtype, bits, value in (
        ("add", "int8", 8, 0.005),
        ("add", "int32", 32, 0.02),
        ("add", "fp16", 16, 0.1),
        ("mul", "fp16", 16, 0.25),
    ):
        rows.append(
            f'[[row]]\nnode = "5nm"\nop = "{op}"\ndtype = "{dtype}"\nbits = {bits}\n'
            f'energy_pJ = {value}\nsource = "projection"\n'
        )
    path.write_text("\n".join(rows))
    tables = load_tables(ops=path)
    assert tables.nodes == ("45nm", "5nm", "7nm")
    assert tables.op("5nm", "mul", "fp16").value_pJ == 0.25
    with pytest.raises(ValueError, match="node=5nm op=mul dtype=int8"):
        tables.op("5nm", "mul", "int8")


def test_override_with_dataframe_and_several_files_in_order(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("node,tier,energy_pJ,energy_pJ_max,source\n7nm,dram_hbm2,300,300,first\n")
    second.write_text("node,tier,energy_pJ,energy_pJ_max,source\n7nm,dram_hbm2,200,200,second\n")
    tables = load_tables(memory=[first, second])
    assert tables.memory_access("7nm", "dram_hbm2").value_pJ == 200
    shape = {"hidden": 64, "intermediate": 128, "layers": 2, "heads": 4, "kv_heads": 4, "vocab": 100}
    frame = pd.DataFrame([{"name": "tiny", "family": "test", "ffn": "glu", "source": "test", **shape}])
    assert "tiny" in set(load_tables(models=frame).models["name"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("node,op,dtype,energy_pJ,source\n7nm,add,int8,-1,x\n", "energy_pJ must be a positive number"),
        ("node,op,dtype,energy_pJ,source\n7nm,add,int8,abc,x\n", "energy_pJ must be a positive number"),
        ("node,op,dtype,energy_pJ,source\n7nm,add,int8,nan,x\n", "energy_pJ must be a positive number"),
        ("node,op,dtype,energy_pJ\n7nm,add,int8,0.1\n", "'source' is missing"),
        ("node,op,dtype,energy_pJ,source\n7nm,add,int8,0.1,\n", "'source' is missing"),
        ("node,op,dtype,energy_pj,source\n7nm,add,int8,0.1,x\n", "unknown column"),
        ("node,op,dtype,bits,energy_pJ,source\n3nm,add,int8,8,1,x\n3nm,add,int8,8,2,y\n", "duplicate row"),
        ("node,op,dtype,energy_pJ,source\n3nm,add,int8,0.1,x\n", "'bits' is missing"),
        ("node,op,dtype,bits,energy_pJ,source\n3nm,add,int8,8.5,0.1,x\n", "bits must be a positive integer"),
        ("", "malformed table"),
        ('node,op,dtype,energy_pJ,source\n7nm,add,"int8,0.1,x\n', "malformed table"),
    ],
)
def test_malformed_ops_tables_name_the_argument(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        load_tables(ops=path)
    assert str(error.value).startswith("ops: ")


def test_malformed_memory_and_models_tables(tmp_path):
    memory = tmp_path / "memory.csv"
    memory.write_text("node,tier,energy_pJ,energy_pJ_max,source\n7nm,dram_hbm2,500,300,x\n")
    with pytest.raises(ValueError, match=r"memory: .*energy_pJ_max is below energy_pJ"):
        load_tables(memory=memory)
    models = tmp_path / "models.csv"
    models.write_text(
        "name,alias,family,hidden,intermediate,layers,heads,kv_heads,vocab,ffn,source\n"
        "odd,,x,100,200,2,3,3,10,glu,x\n"
    )
    with pytest.raises(ValueError, match=r"models: .*multiple of heads"):
        load_tables(models=models)
    models.write_text(
        "name,alias,family,hidden,intermediate,layers,heads,kv_heads,vocab,ffn,source\n"
        "mine,7B,x,64,128,2,4,4,10,glu,x\n"
    )
    with pytest.raises(ValueError, match=r"models: .*'7b' is not unique"):
        load_tables(models=models)


def test_bad_table_files_and_types(tmp_path):
    with pytest.raises(ValueError, match=r"ops: table file 'missing.csv' does not exist"):
        load_tables(ops=tmp_path / "missing.csv")
    wrong = tmp_path / "table.json"
    wrong.write_text("{}")
    with pytest.raises(ValueError, match=r"ops: .*\.csv or \.toml"):
        load_tables(ops=wrong)
    toml = tmp_path / "bad.toml"
    toml.write_text("node = 'no rows here'\n")
    with pytest.raises(ValueError, match=r"memory: malformed table.*\[\[row\]\]"):
        load_tables(memory=toml)
    toml.write_text("[[row]\n")
    with pytest.raises(ValueError, match="memory: malformed table"):
        load_tables(memory=toml)
    with pytest.raises(TypeError, match="ops must be a path or a pandas DataFrame"):
        load_tables(ops=42)


def test_read_table_checks_a_complete_table(tmp_path):
    path = tmp_path / "ops.csv"
    path.write_text("node,op,dtype,bits,energy_pJ,source\n3nm,add,int8,8,0.004,guess\n")
    frame = read_table(path, "ops")
    assert frame.loc[0, "energy_pJ"] == 0.004 and frame.loc[0, "origin"] == "ops.csv"
    with pytest.raises(ValueError, match="schema"):
        read_table(path, "nope")


def test_lookups_reject_unknown_node_tier_and_estimate():
    tables = default_tables()
    with pytest.raises(ValueError, match="node must be one of '45nm', '7nm', got '5nm'"):
        tables.op("5nm", "add", "int8")
    with pytest.raises(TypeError, match="node must be a string"):
        tables.check_node(7)
    with pytest.raises(ValueError, match="tier must be one of"):
        tables.memory_access("45nm", "dram_hbm2")
    with pytest.raises(ValueError, match="memory_estimate"):
        tables.memory_access("7nm", "dram_hbm2", "typical")
    assert isinstance(tables, EnergyTables)
