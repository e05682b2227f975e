#include "train/evaluate.h"

#include "core/error.h"
#include "ops/ops.h"

namespace anneal::train {

std::map<std::string, double> evaluate_classifier(nn::Module& model, data::DataLoader& loader, Device device) {
  int64_t correct = 0, total = 0;
  double loss = 0;
  loader.start_epoch(0);
  data::Batch b;
  while (loader.next(b)) {
    Tensor logits = model(b.data.to(device, true)), target = b.target.to(device, true);
    loss += cross_entropy(logits, target).item<double>() * double(b.target.size(0));
    correct += sum(eq(argmax(logits, 1), target)).item<int64_t>();
    total += b.target.size(0);
  }
  ANNEAL_CHECK(total > 0, ValueError, "evaluate_classifier: the loader gave no examples");
  return {{"test_accuracy", 100.0 * double(correct) / double(total)}, {"test_loss", loss / double(total)}};
}

}  // namespace anneal::train
