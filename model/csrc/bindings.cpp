// The extension module of model/native_kernels.py: every kernel of csrc/ in one build.
//
// The GIL is released for each call, as PyTorch's own operators do: the studio decodes on a
// worker thread, and a kernel holding the GIL would stall the GUI thread meanwhile.
#include <torch/extension.h>

torch::Tensor snake(torch::Tensor x, torch::Tensor alpha);
torch::Tensor winograd_conv1d(torch::Tensor x, torch::Tensor u, torch::Tensor at, torch::Tensor bt,
                              c10::optional<torch::Tensor> bias, int64_t dilation, int64_t pad, int64_t length,
                              int64_t block);

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("snake", &snake, "fused Snake (inference)", py::call_guard<py::gil_scoped_release>());
  m.def("winograd_conv1d", &winograd_conv1d, "1-D convolution by Winograd tiles (inference)",
        py::call_guard<py::gil_scoped_release>());
}
