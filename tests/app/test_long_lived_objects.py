"""Opening a clip settles the long-lived objects: they leave the garbage collector's
generations (so a full collection no longer walks them), and cycles left over from before
are freed then."""
import gc
import weakref

from app.runtime import long_lived_objects


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector can free it


def tracked_ids() -> set[int]:
    return {id(o) for o in gc.get_objects()}


def test_the_loaded_model_is_frozen_out_of_full_collections(session, open_encoded, clip_path):
    open_encoded(clip_path)
    model = session.worker.codec
    parameter = next(model.network.parameters())
    tracked = tracked_ids()
    assert id(model) not in tracked and id(parameter) not in tracked
    assert gc.get_freeze_count() > len(gc.get_objects())  # most objects are exempt


def test_opening_a_clip_frees_cycles_frozen_by_the_last_settle(session, open_encoded, clip_path):
    cycle = Node()
    gone = weakref.ref(cycle)
    long_lived_objects.settle()
    del cycle
    gc.collect()
    assert gone() is not None  # frozen: ordinary collections leave it
    open_encoded(clip_path)
    assert gone() is None


def test_objects_made_after_a_settle_are_collected_as_usual():
    long_lived_objects.settle()
    cycle = Node()
    gone = weakref.ref(cycle)
    del cycle
    gc.collect()
    assert gone() is None
