from streams.cli.ingest import read_csv, read_jsonl


def test_csv_cells_become_typed_fields_and_bad_cells_are_named():
    rows = list(read_csv(iter([
        "event_id,customer_id,store_id,occurred_at,total,items\n",
        'p-1,c-1,s-1,2026-03-02T10:00:00Z,12.5,"[{""sku"": ""A"", ""category"": ""g"", ""quantity"": 1, ""unit_price"": 12.5}]"\n',
        "p-2,c-2,s-1,2026-03-02T10:00:00Z,twelve,\n",
        "p-3,,s-1,2026-03-02T10:00:00Z,3,\n",
    ]), "purchases"))
    assert rows[0].error is None and rows[0].event.total == 12.5 and rows[0].event.items[0].sku == "A"
    assert rows[1].number == 3 and rows[1].error.startswith("total:")
    assert rows[2].number == 4 and "customer_id: Field required" in rows[2].error


def test_jsonl_needs_a_topic_unless_lines_are_envelopes():
    (line,) = read_jsonl(iter(['{"event_id": "e"}\n']), None)
    assert "unknown topic" in line.error
    lines = list(read_jsonl(iter(["not json\n", "\n", '{"topic": "payments", "value": {}}\n']), "purchases"))
    assert [l.number for l in lines] == [1, 3]
    assert lines[0].error.startswith("not JSON") and lines[1].topic == "payments"
