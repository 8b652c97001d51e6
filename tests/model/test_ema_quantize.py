"""EMA codebooks: update math, k-means initialisation, dead-code restart, float32, distributed."""
import os

import pytest
import torch
import torch.multiprocessing as mp

from model.ema_quantize import EmaVectorQuantizer, ema_residual_quantizer, kmeans


def _stage(dim=3, size=4, decay=0.9, threshold=0.0, **kw) -> EmaVectorQuantizer:
    return EmaVectorQuantizer(dim, size, decay=decay, epsilon=1e-5, dead_code_threshold=threshold, **kw)


def _inited(stage: EmaVectorQuantizer, embed: torch.Tensor, counts: torch.Tensor) -> EmaVectorQuantizer:
    with torch.no_grad():
        stage.embed.copy_(embed)
        stage.cluster_size.copy_(counts)
        stage.embed_avg.copy_(embed * counts[:, None])
        stage.inited.fill_(1)
    return stage


def _as_latents(rows: torch.Tensor, batch: int = 1) -> torch.Tensor:
    """``[N, d]`` -> ``[batch, d, N / batch]`` (the stage's input layout)."""
    return rows.view(batch, -1, rows.shape[1]).transpose(1, 2)


def test_ema_update_follows_the_formulas():
    embed = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    counts = torch.tensor([4.0, 2.0, 1.0, 3.0])
    stage = _inited(_stage(), embed, counts).train()
    x = torch.tensor([[0.1, 0, 0], [0.9, 0.2, 0], [1.2, 0, 0], [0, 0.8, 0.1], [0.1, 0.1, 0.05]])
    out = stage(_as_latents(x))
    assign = torch.tensor([0, 1, 1, 2, 0])
    assert torch.equal(out.indices.flatten(), assign)
    n = torch.bincount(assign, minlength=4).float()
    sums = torch.zeros(4, 3).index_add_(0, assign, x)
    size = 0.9 * counts + 0.1 * n
    avg = 0.9 * embed * counts[:, None] + 0.1 * sums
    smoothed = (size + 1e-5) / (size.sum() + 4 * 1e-5) * size.sum()
    torch.testing.assert_close(stage.cluster_size, size)
    torch.testing.assert_close(stage.embed_avg, avg)
    torch.testing.assert_close(stage.embed, avg / smoothed[:, None])
    # the output uses the codebook of *before* the update
    torch.testing.assert_close(out.quantized[0].t(), embed[assign])


def test_laplace_smoothing_keeps_an_unused_code_finite():
    stage = _inited(_stage(), torch.eye(4, 3), torch.tensor([5.0, 5.0, 5.0, 0.0])).train()
    stage(_as_latents(torch.tensor([[1.0, 0, 0], [0, 1, 0]])))
    assert torch.isfinite(stage.embed).all()


def test_kmeans_init_on_first_batch_sets_consistent_statistics():
    torch.manual_seed(0)
    centres = torch.tensor([[5.0, 0, 0], [-5, 0, 0], [0, 5, 0], [0, 0, -5]])
    x = centres[torch.arange(4).repeat_interleave(50)] + 0.1 * torch.randn(200, 3)
    stage = _stage(size=6, kmeans_iters=20).train()
    assert stage.inited.item() == 0
    stage.update = lambda *a: None  # look at the initialisation alone
    stage(_as_latents(x, batch=4))
    assert stage.inited.item() == 1
    assign = torch.cdist(x, stage.embed).argmin(1)
    for k in range(6):  # a Lloyd fixed point: every used code is the mean of its vectors
        members = x[assign == k]
        assert stage.cluster_size[k] == len(members)
        if len(members):
            torch.testing.assert_close(stage.embed[k], members.mean(0))
    torch.testing.assert_close(stage.embed_avg, stage.embed * stage.cluster_size[:, None])


def test_kmeans_reduces_distortion_against_its_random_start():
    torch.manual_seed(1)
    x = torch.randn(500, 2) * torch.tensor([3.0, 0.5])
    start, _ = kmeans(x, 16, iterations=0)
    means, counts = kmeans(x, 16, iterations=25)
    def distortion(m):
        return torch.cdist(x, m).min(1).values.pow(2).mean()
    assert distortion(means) < 0.7 * distortion(start)
    assert counts.sum() == 500


def test_dead_code_restart_moves_the_code_and_resets_its_statistics():
    torch.manual_seed(0)
    embed = torch.tensor([[0.0, 0, 0], [10, 10, 10], [1, 0, 0], [0, 1, 0]])
    counts = torch.tensor([5.0, 0.01, 5.0, 5.0])  # code 1 is far from all data: dead
    stage = _inited(_stage(threshold=1.0), embed, counts).train()
    x = torch.tensor([[0.1, 0, 0], [0.9, 0, 0], [0, 1.1, 0], [0.2, 0.1, 0]])
    stage(_as_latents(x))
    fresh = stage.embed[1]
    assert any(torch.equal(fresh, row) for row in x)  # a vector of the batch
    assert stage.cluster_size[1] == 1.0  # reset to the threshold
    torch.testing.assert_close(stage.embed_avg[1], fresh * 1.0)
    # the live codes were only EMA-updated, not restarted
    assert torch.all(stage.cluster_size[[0, 2, 3]] > 1.0)
    # the next update keeps the restarted code where it was put (EnCodec's release loses it)
    stage(_as_latents(fresh.repeat(4, 1)))
    torch.testing.assert_close(stage.embed[1], fresh, atol=1e-4, rtol=0)


def test_codebook_math_stays_float32_under_autocast():
    torch.manual_seed(0)
    stage = _inited(_stage(dim=8, size=64), torch.randn(64, 8), torch.full((64,), 2.0)).train()
    x = torch.randn(2, 8, 30).bfloat16()
    reference = _inited(_stage(dim=8, size=64), stage.embed.clone(), stage.cluster_size.clone()).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = stage(x)
    expected = reference(x.float())
    assert torch.equal(out.indices, expected.indices)
    assert stage.embed.dtype == torch.float32
    torch.testing.assert_close(stage.embed, reference.embed)
    assert out.quantized.dtype == torch.bfloat16


def test_eval_mode_leaves_statistics_alone_and_returns_codewords_exactly():
    torch.manual_seed(0)
    stage = _inited(_stage(dim=4, size=16), torch.randn(16, 4), torch.ones(16)).eval()
    before = {k: v.clone() for k, v in stage.state_dict().items()}
    x = torch.randn(2, 4, 10)
    with torch.no_grad():
        out = stage(x)
    assert all(torch.equal(before[k], v) for k, v in stage.state_dict().items())
    assert torch.equal(out.quantized, stage.decode_indices(out.indices))


def test_commitment_gradient_reaches_the_encoder_and_no_codebook_loss():
    torch.manual_seed(0)
    rvq = ema_residual_quantizer(3, dim=4, codebook_size=8).train()
    z = torch.randn(2, 4, 12, requires_grad=True)
    out = rvq(z)
    assert out.codebook_loss.item() == 0.0 and out.commitment_loss.item() > 0
    (out.quantized.sum() + out.commitment_loss).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def _distributed_worker(rank: int, world: int, store: str, start: dict, batch: torch.Tensor,
                        stream: torch.Tensor, results: dict) -> None:
    """Rank r sees the r-th half of every batch: one synchronised update from ``start``,
    then three steps from scratch (k-means init, updates, restarts) with rank-local seeds."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    half = batch.shape[0] // world
    synced = EmaVectorQuantizer(3, 8, decay=0.8, dead_code_threshold=0.0).train()
    synced.load_state_dict(start)
    synced(batch[rank * half:(rank + 1) * half])
    torch.manual_seed(100 + rank)  # different k-means starts and restart samples per process
    fresh = EmaVectorQuantizer(3, 8, decay=0.8, kmeans_iters=5, dead_code_threshold=0.5).train()
    for step in range(stream.shape[1]):
        fresh(stream[rank * half:(rank + 1) * half, step])
    results[rank] = ({k: v.clone() for k, v in synced.state_dict().items()},
                     {k: v.clone() for k, v in fresh.state_dict().items()})
    dist.destroy_process_group()


@pytest.mark.slow  # two spawned processes: about 10 s, mostly interpreter start-up
def test_statistics_are_synchronised_across_processes(tmp_path):
    torch.manual_seed(0)
    batch, stream = torch.randn(4, 3, 20), torch.randn(4, 3, 3, 20)  # stream: [items, steps, dim, frames]
    single = _inited(EmaVectorQuantizer(3, 8, decay=0.8, dead_code_threshold=0.0), torch.randn(8, 3),
                     torch.rand(8) + 0.5).train()
    start = {k: v.clone() for k, v in single.state_dict().items()}
    single(batch)
    results = mp.Manager().dict()
    mp.spawn(_distributed_worker, args=(2, str(tmp_path / "store"), start, batch, stream, results), nprocs=2)
    for rank in (0, 1):  # the update a single process makes on the whole global batch
        for key, value in single.state_dict().items():
            torch.testing.assert_close(results[rank][0][key], value, atol=1e-6, rtol=1e-6)
    for key, value in results[0][1].items():  # identical codebooks despite local randomness
        assert torch.equal(value, results[1][1][key]), key


@pytest.fixture(autouse=True)
def _no_leaked_process_group():
    yield
    assert not torch.distributed.is_initialized()
    os.environ.pop("MASTER_ADDR", None)


def test_a_stage_released_for_inference_rebuilds_its_sums_and_trains_as_before():
    """A codec drops the running sums (model/inference_memory.py): the state dict and a training
    step rebuild them from the codebook and the usage, consistent with what the update divides by."""
    embed, counts = torch.randn(8, 3), torch.tensor([4.0, 2.0, 1.0, 3.0, 5.0, 0.5, 2.5, 1.5])
    kept = _inited(_stage(size=8), embed, counts)
    released = _inited(_stage(size=8), embed, counts)
    released.release_parametrisation()
    assert "embed_avg" not in dict(released.named_buffers())
    state = released.state_dict()
    assert list(state) == list(kept.state_dict())
    torch.testing.assert_close(state["embed_avg"] / released.smoothed_counts()[:, None], embed)
    x = torch.randn(12, 3)
    kept.train()(_as_latents(x))
    released.train()(_as_latents(x))
    for name in ("embed", "cluster_size", "embed_avg"):
        torch.testing.assert_close(getattr(released, name), getattr(kept, name), rtol=1e-4, atol=1e-6)
