#include "tensor.h"

#include <sstream>

#include "error.h"

namespace pcplay {

Index shape_numel(const Shape& shape) {
  Index n = 1;
  for (Index d : shape) {
    if (d < 0 || (d > 0 && n > kMaxElements / d))
      throw Error("shape " + shape_str(shape) + " holds more than " + std::to_string(kMaxElements) + " elements");
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

Shape batch_shape(Index batch, const Shape& sample_shape) {
  Shape s{batch};
  s.insert(s.end(), sample_shape.begin(), sample_shape.end());
  return s;
}

}  // namespace pcplay
