"""Compiled decoding (a measured lever): excerpts of one length reproduce the exact decoding, and
the compiled decoder agrees with the eager one (compiling takes tens of seconds: that test is slow)."""
import pytest
import torch

from model.chunked import decode_stream, fixed_length_plan
from model.codec import Codec
from benchmarks.compiled_decoder import CompiledDecoder, CompileFailed, compile_decoder
from tests.support.tiny_codecs import tiny_network


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(tiny_network("dac"), name="tiny", family="dac", config={})


def _codes(codec: Codec, frames: int) -> torch.Tensor:
    return torch.randint(0, codec.codebook_size, (1, codec.n_codebooks, frames),
                         generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("n_frames, excerpt, margin", [(10, 10, 2), (11, 10, 2), (100, 10, 2), (257, 64, 21),
                                                       (1000, 256, 13)])
def test_fixed_length_plan_covers_the_signal_with_full_margins(n_frames: int, excerpt: int, margin: int) -> None:
    plan = list(fixed_length_plan(n_frames, excerpt, margin))
    assert [end for _, end, _, _ in plan][-1] == n_frames
    previous_end = 0
    for start, end, ctx_start, ctx_end in plan:
        assert start == previous_end < end
        assert ctx_end - ctx_start == excerpt and 0 <= ctx_start and ctx_end <= n_frames
        assert ctx_start == 0 or start - ctx_start >= margin
        assert ctx_end == n_frames or ctx_end - end >= margin
        previous_end = end


@pytest.mark.parametrize("n_frames, excerpt, margin", [(9, 10, 2), (100, 4, 2)])
def test_fixed_length_plan_refuses_impossible_excerpts(n_frames: int, excerpt: int, margin: int) -> None:
    with pytest.raises(ValueError, match="excerpts"):
        list(fixed_length_plan(n_frames, excerpt, margin))


@pytest.mark.parametrize("frames", [64, 150])
def test_fixed_length_excerpts_decode_as_the_whole_signal(codec: Codec, frames: int) -> None:
    codes = _codes(codec, frames)
    whole = codec.inference_network().decode_codes(codes)
    pieces = decode_stream(codec._decode_codes, codes, codec.hop_length, codec.decoder_context, 0, workers=2,
                           excerpt_frames=64)
    chunked = torch.cat(list(pieces), dim=-1)
    assert chunked.shape == whole.shape
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5)


def test_compiling_refuses_a_context_too_wide_for_the_excerpts(codec: Codec) -> None:
    with pytest.raises(CompileFailed, match="too wide"):
        compile_decoder(codec.network, codec.n_codebooks, codec.codebook_size, margin_frames=40, excerpt_frames=64)


@pytest.mark.slow  # importing the compiler takes seconds
def test_a_failed_compile_is_one_line(codec: Codec, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    def fail(self: CompiledDecoder, codes: torch.Tensor) -> float:
        raise RuntimeError("C++ compile error\nlong compiler output")

    monkeypatch.setattr(CompiledDecoder, "warm_up", fail)
    with pytest.raises(CompileFailed, match="^compiling the decoder failed: C\\+\\+ compile error$"):
        compile_decoder(codec.network, codec.n_codebooks, codec.codebook_size, codec.decoder_context)


@pytest.mark.slow
def test_compiled_decoding_matches_the_exact_one(codec: Codec, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    compiled = compile_decoder(codec.network, codec.n_codebooks, codec.codebook_size, codec.decoder_context)
    codes = _codes(codec, 700)
    exact = codec.decode(codes)
    torch.testing.assert_close(compiled.decode(codes, workers=2), exact, rtol=0, atol=1e-4)
    torch.testing.assert_close(compiled.decode(codes, workers=1), exact, rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="takes"):
        compiled.decode_excerpt(codes[..., :100])
