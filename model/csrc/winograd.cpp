// Winograd (Toom-Cook) 1-D convolution in the channels-last layout, for inference.
//
// A convolution with a kernel of r taps computes m outputs from a tile of n = m + r - 1 inputs.
// Winograd's minimal filtering turns that into n element-wise products per channel pair
// instead of m * r (12 instead of 42 for F(6, 7)), so the channel mixing becomes n matrix
// products of (tiles x C) by (C x C_out), done by PyTorch's GEMM. Around them, the input
// transform B^T gathers the tiles and the output transform A^T spreads the products back, with
// the bias. Both are memory-bound; written here as loops over 16-channel blocks (channels are
// contiguous in [B, T, C]) that keep a whole tile in registers, they cost a few percent of the
// GEMMs, where the same transforms written with PyTorch operators cost as much as the
// convolution saved. model/winograd.py builds the matrices and decides where this runs.
//
// Dilation d is handled as d interleaved undilated convolutions: output t = (k * m + i) * d + q
// (tile k, phase q) reads inputs (k * m + j) * d + q - pad, j < n; inputs outside [0, T) are zero.
#include <torch/extension.h>
#include <ATen/Parallel.h>

namespace {

constexpr int64_t LANES = 16;  // one AVX-512 register of floats

// Rows r in [r0, r1) of the GEMM's row index (batch, tile, phase) -> v [n, r1 - r0, C].
// A block of 16 channels of all n tile inputs stays in registers while the n outputs are formed.
template <int N>
void input_tiles(const float* x, float* v, const float* bt, int64_t T, int64_t C, int64_t d, int64_t m,
                 int64_t pad, int64_t tiles, int64_t r0, int64_t r1) {
  const int64_t rows = r1 - r0;
  at::parallel_for(r0, r1, 16, [&](int64_t a0, int64_t a1) {
    for (int64_t r = a0; r < a1; ++r) {
      const int64_t q = r % d, k = (r / d) % tiles, b = r / (d * tiles);
      const float* src[N];
      for (int j = 0; j < N; ++j) {
        const int64_t t = (k * m + j) * d + q - pad;
        src[j] = (t >= 0 && t < T) ? x + (b * T + t) * C : nullptr;
      }
      for (int64_t c0 = 0; c0 < C; c0 += LANES) {
        const int64_t len = std::min(LANES, C - c0);
        float in[N][LANES];
        for (int j = 0; j < N; ++j) {
#pragma omp simd
          for (int64_t l = 0; l < LANES; ++l) in[j][l] = (src[j] != nullptr && l < len) ? src[j][c0 + l] : 0.0f;
        }
        for (int p = 0; p < N; ++p) {
          float acc[LANES] = {};
          for (int j = 0; j < N; ++j) {
            const float w = bt[p * N + j];
#pragma omp simd
            for (int64_t l = 0; l < LANES; ++l) acc[l] += w * in[j][l];
          }
          float* out = v + (p * rows + (r - r0)) * C + c0;
          for (int64_t l = 0; l < len; ++l) out[l] = acc[l];
        }
      }
    }
  });
}

// Products mm [n, r1 - r0, C] of rows [r0, r1) -> their outputs in y [B, T, C], the bias added.
template <int N>
void output_tiles(const float* mm, float* y, const float* at, const float* bias, int64_t T, int64_t C, int64_t d,
                  int64_t m, int64_t tiles, int64_t r0, int64_t r1) {
  const int64_t rows = r1 - r0;
  at::parallel_for(r0, r1, 16, [&](int64_t a0, int64_t a1) {
    for (int64_t r = a0; r < a1; ++r) {
      const int64_t q = r % d, k = (r / d) % tiles, b = r / (d * tiles);
      for (int64_t c0 = 0; c0 < C; c0 += LANES) {
        const int64_t len = std::min(LANES, C - c0);
        float in[N][LANES];
        for (int p = 0; p < N; ++p) {
          const float* s = mm + (p * rows + (r - r0)) * C + c0;
#pragma omp simd
          for (int64_t l = 0; l < LANES; ++l) in[p][l] = l < len ? s[l] : 0.0f;
        }
        for (int64_t i = 0; i < m; ++i) {
          const int64_t t = (k * m + i) * d + q;
          if (t >= T) break;
          float acc[LANES];
#pragma omp simd
          for (int64_t l = 0; l < LANES; ++l) acc[l] = (bias != nullptr && l < len) ? bias[c0 + l] : 0.0f;
          for (int p = 0; p < N; ++p) {
            const float w = at[i * N + p];
#pragma omp simd
            for (int64_t l = 0; l < LANES; ++l) acc[l] += w * in[p][l];
          }
          float* out = y + (b * T + t) * C + c0;
          for (int64_t l = 0; l < len; ++l) out[l] = acc[l];
        }
      }
    }
  });
}

template <int N>
void convolve(const float* x, float* y, const torch::Tensor& u, const float* at, const float* bt, const float* bias,
              int64_t B, int64_t T, int64_t L, int64_t C, int64_t d, int64_t m, int64_t pad, int64_t tiles,
              int64_t block) {
  const int64_t rows = B * tiles * d, Co = u.size(2);
  auto v = torch::empty({N, std::min(block, rows), C}, u.options());
  auto mm = torch::empty({N, std::min(block, rows), Co}, u.options());
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    const int64_t r1 = std::min(rows, r0 + block);
    auto vb = v.narrow(1, 0, r1 - r0), mb = mm.narrow(1, 0, r1 - r0);
    if (r1 - r0 < block) {  // the last, shorter block: contiguous views of the buffers' start
      vb = v.view(-1).narrow(0, 0, N * (r1 - r0) * C).view({N, r1 - r0, C});
      mb = mm.view(-1).narrow(0, 0, N * (r1 - r0) * Co).view({N, r1 - r0, Co});
    }
    input_tiles<N>(x, vb.data_ptr<float>(), bt, T, C, d, m, pad, tiles, r0, r1);
    at::bmm_out(mb, vb, u);
    output_tiles<N>(mb.data_ptr<float>(), y, at, bias, L, Co, d, m, tiles, r0, r1);
  }
}

}  // namespace

// y = conv1d(x, w, bias, dilation=d) for x [B, C, 1, T] in channels-last memory (the same layout
// out), x padded by `pad` zeros on the left and as many as `length` outputs need on the right;
// u = G w as [n, C, C_out] and the transforms A^T [m, n], B^T [n, n] are those of a Winograd
// F(m, r) algorithm, n = m + r - 1.
// The tiles are processed `block` GEMM rows at a time so that the transformed tiles and their
// products stay a few megabytes, reused from block to block, whatever the length.
torch::Tensor winograd_conv1d(torch::Tensor x, torch::Tensor u, torch::Tensor at, torch::Tensor bt,
                              c10::optional<torch::Tensor> bias, int64_t dilation, int64_t pad, int64_t length,
                              int64_t block) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.dim() == 4 && x.size(2) == 1 &&
                  x.is_contiguous(at::MemoryFormat::ChannelsLast),
              "winograd_conv1d: expects a float32 CPU tensor [B, C, 1, T] in channels-last memory");
  const int64_t n = bt.size(0), m = at.size(0);
  const int64_t B = x.size(0), C = x.size(1), T = x.size(3);
  TORCH_CHECK(bt.dim() == 2 && bt.size(1) == n && at.dim() == 2 && at.size(1) == n && bt.is_contiguous() &&
                  at.is_contiguous() && bt.scalar_type() == torch::kFloat && at.scalar_type() == torch::kFloat,
              "winograd_conv1d: transforms must be contiguous float32 [n, n] and [m, n]");
  TORCH_CHECK(u.dim() == 3 && u.size(0) == n && u.size(1) == C && u.is_contiguous() && u.scalar_type() == torch::kFloat,
              "winograd_conv1d: transformed weight of the wrong shape");
  TORCH_CHECK(block > 0 && dilation > 0 && m > 0 && length >= 0 && pad >= 0,
              "winograd_conv1d: block, dilation and m must be positive, length and pad not negative");
  const int64_t Co = u.size(2);
  torch::Tensor b;
  if (bias.has_value() && bias->defined()) {
    b = bias->to(torch::kFloat).contiguous();
    TORCH_CHECK(b.numel() == Co, "winograd_conv1d: bias of the wrong length");
  }
  const int64_t per_phase = (length + dilation - 1) / dilation;
  const int64_t tiles = (per_phase + m - 1) / m;
  auto y = torch::empty({B, Co, 1, length}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  const float* bp = b.defined() ? b.data_ptr<float>() : nullptr;
  if (length == 0) return y;
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  switch (n) {
    case 10: convolve<10>(xp, yp, u, at.data_ptr<float>(), bt.data_ptr<float>(), bp, B, T, length, C, dilation, m, pad, tiles, block); break;
    case 12: convolve<12>(xp, yp, u, at.data_ptr<float>(), bt.data_ptr<float>(), bp, B, T, length, C, dilation, m, pad, tiles, block); break;
    default: TORCH_CHECK(false, "winograd_conv1d: tiles of ", n, " inputs are not compiled in");
  }
  return y;
}
