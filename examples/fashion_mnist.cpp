// Trains a classifier on Fashion-MNIST (Debian's dataset-fashion-mnist) and prints the
// test accuracy as its last line.
//
//   fashion_mnist [--model cnn|mlp] [--epochs N] [--batch B] [--lr LR] [--data DIR]
//                 [--limit N] [--seed S]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "anneal.h"

using namespace anneal;

namespace {

struct Args {
  std::string model = "cnn", data = "/usr/share/datasets/fashion-mnist";
  int epochs = 5;
  int64_t batch = 128, limit = 0;
  double lr = 1e-3;
  uint64_t seed = 0;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--model") a.model = value();
    else if (k == "--epochs") a.epochs = std::stoi(value());
    else if (k == "--batch") a.batch = std::stoll(value());
    else if (k == "--lr") a.lr = std::stod(value());
    else if (k == "--data") a.data = value();
    else if (k == "--limit") a.limit = std::stoll(value());
    else if (k == "--seed") a.seed = std::stoull(value());
    else {
      std::fprintf(stderr, "unknown argument %s\nusage: fashion_mnist [--model cnn|mlp] [--epochs N] [--batch B] "
                           "[--lr LR] [--data DIR] [--limit N] [--seed S]\n", k.c_str());
      std::exit(2);
    }
  }
  if (a.model != "cnn" && a.model != "mlp") {
    std::fprintf(stderr, "--model must be cnn or mlp\n");
    std::exit(2);
  }
  return a;
}

// uint8 images [N, 28, 28] → normalised float [N, 1, 28, 28]
Tensor prepare(const Tensor& images) {
  const double mean = 0.2860, std = 0.3530;  // Fashion-MNIST's pixel statistics
  return ((images.to(DType::Float32) / 255.0 - mean) / std).unsqueeze(1).contiguous();
}

std::shared_ptr<nn::Module> make_model(const std::string& kind) {
  using namespace nn;
  if (kind == "mlp")
    return std::make_shared<Sequential>(Sequential{std::make_shared<Flatten>(), std::make_shared<Linear>(784, 512),
                                                   std::make_shared<ReLU>(), std::make_shared<Linear>(512, 256),
                                                   std::make_shared<ReLU>(), std::make_shared<Linear>(256, 10)});
  return std::make_shared<Sequential>(Sequential{
      std::make_shared<Conv2d>(1, 32, 3, Conv2dArgs{.padding = 1, .bias = false}), BatchNorm2d(32),
      std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2),
      std::make_shared<Conv2d>(32, 64, 3, Conv2dArgs{.padding = 1, .bias = false}), BatchNorm2d(64),
      std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2), std::make_shared<Flatten>(),
      std::make_shared<Linear>(64 * 7 * 7, 128), std::make_shared<ReLU>(), std::make_shared<Dropout>(0.25),
      std::make_shared<Linear>(128, 10)});
}

double evaluate(nn::Module& model, data::DataLoader& loader) {
  NoGradGuard ng;
  model.eval();
  int64_t correct = 0, total = 0;
  loader.start_epoch(0);
  data::Batch b;
  while (loader.next(b)) {
    Tensor pred = argmax(model(b.data), 1);
    correct += sum(eq(pred, b.target)).item<int64_t>();
    total += b.target.size(0);
  }
  model.train();
  return 100.0 * double(correct) / double(total);
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse(argc, argv);
  manual_seed(args.seed);
  try {
    Tensor train_x = data::read_idx(args.data + "/train-images-idx3-ubyte.gz");
    Tensor train_y = data::read_idx(args.data + "/train-labels-idx1-ubyte.gz").to(DType::Int64);
    Tensor test_x = data::read_idx(args.data + "/t10k-images-idx3-ubyte.gz");
    Tensor test_y = data::read_idx(args.data + "/t10k-labels-idx1-ubyte.gz").to(DType::Int64);
    if (args.limit > 0) {
      train_x = train_x.narrow(0, 0, std::min(args.limit, train_x.size(0)));
      train_y = train_y.narrow(0, 0, train_x.size(0));
    }
    auto train_set = std::make_shared<data::TensorDataset>(prepare(train_x), train_y);
    auto test_set = std::make_shared<data::TensorDataset>(prepare(test_x), test_y);
    data::DataLoader train(train_set, {.batch_size = args.batch, .shuffle = true, .seed = args.seed});
    data::DataLoader test(test_set, {.batch_size = 1000});

    auto model = make_model(args.model);
    std::printf("%s\n", model->to_string().c_str());
    optim::Adam opt(model->parameters(), args.lr);
    // cosine decay of the learning rate over the whole run
    optim::CosineAnnealingLR schedule(opt, train.num_batches() * args.epochs);
    for (int epoch = 0; epoch < args.epochs; ++epoch) {
      auto t0 = std::chrono::steady_clock::now();
      train.start_epoch(epoch);
      data::Batch b;
      double loss_sum = 0;
      int64_t n = 0;
      while (train.next(b)) {
        Tensor loss = cross_entropy((*model)(b.data), b.target);
        opt.zero_grad();
        loss.backward();
        opt.step();
        schedule.step();
        loss_sum += loss.item<double>();
        ++n;
      }
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("epoch %d  loss %.4f  %.0f samples/s  test accuracy %.2f%%\n", epoch + 1, loss_sum / double(n),
                  double(train_set->size()) / secs, evaluate(*model, test));
      std::fflush(stdout);
    }
    std::printf("test accuracy: %.2f%%\n", evaluate(*model, test));
  } catch (const Error& e) {
    std::fprintf(stderr, "fashion_mnist: %s\n", e.what());
    return 1;
  }
  return 0;
}
