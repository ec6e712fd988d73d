from assistants_core.domain import ids


def test_ids_carry_openai_prefixes() -> None:
    for prefix in (ids.ASSISTANT, ids.THREAD, ids.MESSAGE, ids.RUN, ids.STEP):
        object_id = ids.new_id(prefix)
        assert object_id.startswith(prefix + "_")
        assert ids.has_prefix(object_id, prefix)
        assert len(object_id) == len(prefix) + 1 + 24


def test_ids_made_in_a_row_sort_in_creation_order_even_within_one_millisecond() -> None:
    made = [ids.new_id(ids.MESSAGE, now_ms=1_700_000_000_000) for _ in range(500)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_later_millisecond_sorts_after_earlier_one() -> None:
    early = ids.new_id(ids.RUN, now_ms=1_800_000_000_000)
    late = ids.new_id(ids.RUN, now_ms=1_800_000_000_001)
    assert early < late


def test_a_clock_going_backwards_does_not_break_ordering() -> None:
    first = ids.new_id(ids.MESSAGE, now_ms=1_900_000_000_500)
    second = ids.new_id(ids.MESSAGE, now_ms=1_900_000_000_000)
    assert first < second


def test_derived_id_is_deterministic_and_keeps_the_source_time_part() -> None:
    run_id = ids.new_id(ids.RUN)
    derived = ids.derived_id(ids.MESSAGE, run_id)
    assert derived == ids.derived_id(ids.MESSAGE, run_id)
    assert derived.startswith("msg_")
    assert derived.removeprefix("msg_") == run_id.removeprefix("run_")
    assert ids.derived_id(ids.STEP, run_id, "a") != ids.derived_id(ids.STEP, run_id, "b")


def test_has_prefix_rejects_foreign_or_empty_ids() -> None:
    assert not ids.has_prefix("thread_abc", ids.ASSISTANT)
    assert not ids.has_prefix("asst_", ids.ASSISTANT)
    assert not ids.has_prefix("asstx_abc", ids.ASSISTANT)
