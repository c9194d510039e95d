"""A multi-model endpoint's registry: entries whole or absent, one winner per name, a new load id per load."""

import threading

from image_classifier.serving.registry import Entry, Registry


def test_an_entry_is_registered_once_and_read_back(tmp_path):
    registry = Registry(tmp_path)
    entry = Entry.new("a/b c", "/opt/ml/models/x/model")
    assert registry.add(entry)
    assert not registry.add(Entry.new("a/b c", "/elsewhere"))
    assert registry.get("a/b c") == entry
    assert registry.get("other") is None
    assert registry.entries() == [entry]


def test_of_loads_racing_for_one_name_exactly_one_wins(tmp_path):
    registry = Registry(tmp_path)
    results = []
    threads = [
        threading.Thread(target=lambda url=f"/m/{number}": results.append(registry.add(Entry.new("same", url))))
        for number in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False] * 15 + [True]
    assert len(registry.entries()) == 1
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no partial left


def test_removed_entries_are_gone_and_a_reload_is_a_new_load(tmp_path):
    registry = Registry(tmp_path)
    first = Entry.new("m", "/one")
    registry.add(first)
    assert registry.remove("m") and not registry.remove("m")
    assert registry.get("m") is None and registry.file_names() == set()
    second = Entry.new("m", "/one")
    registry.add(second)
    assert registry.get("m").load_id == second.load_id != first.load_id
    assert registry.file_names() == {registry.file_name("m")}


def test_entries_are_listed_by_name(tmp_path):
    registry = Registry(tmp_path)
    for name in ("b", "c", "a"):
        registry.add(Entry.new(name, f"/{name}"))
    assert [entry.name for entry in registry.entries()] == ["a", "b", "c"]
    assert registry.entries()[0].description() == {"modelName": "a", "modelUrl": "/a"}


def test_an_unload_sets_the_entry_aside_counted_in_the_budget_until_it_ends(tmp_path):
    registry = Registry(tmp_path)
    entry = Entry.new("a", "/m/a", memory_bytes=100)
    registry.add(entry)
    unload_id = registry.begin_unload("a")
    assert registry.get("a") is None and registry.entries() == []  # no worker finds it any more
    assert registry.begin_unload("a") is None  # a second DELETE: not loaded
    assert registry.unloading() == {unload_id: entry}
    assert registry.used_bytes() == 100  # its memory is not free yet
    registry.add(Entry.new("a", "/m/new", memory_bytes=10))  # loaded again meanwhile: a new entry
    registry.release(unload_id, 12)
    registry.release(unload_id, 34)
    assert registry.released(unload_id) == {12, 34}
    registry.end_unload(unload_id)
    assert registry.unloading() == {} and registry.released(unload_id) == set()
    assert registry.used_bytes() == 10
    assert sorted(path.name for path in tmp_path.iterdir()) == [registry.file_name("a")]
