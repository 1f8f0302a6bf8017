"""Tally's specification, run by kvbatch's pytest plugin (installed with kvbatch)."""


def test_each_name_gets_one_vote(kvbatch, kvbatch_build_app):
    run = kvbatch.run(kvbatch_build_app("tally"), "ann", "bob")
    assert run.exit_code == 0
    assert kvbatch.get("votes:ann") == b"1" and kvbatch.get("votes:bob") == b"1"


def test_votes_add_up_across_runs(kvbatch, kvbatch_build_app):
    wasm = kvbatch_build_app("tally")
    kvbatch.run(wasm, "ann")
    kvbatch.run(wasm, "ann", "bob")
    assert kvbatch.get("votes:ann") == b"2"


def test_a_refused_write_is_reported_and_not_counted(kvbatch, kvbatch_build_app):
    kvbatch.fault("op=set,key=votes:bob,error=other:disk full")    # faults and stores: before the first run
    run = kvbatch.run(kvbatch_build_app("tally"), "ann", "bob", batch="native")
    assert run.stdout.splitlines() == ["votes:ann: succeeded", "votes:bob: failed"]
    assert kvbatch.get("votes:ann") == b"1" and kvbatch.get("votes:bob") is None
    assert {event.key for event in run.faults} == {"votes:bob"}
