// Trains a classifier on Fashion-MNIST (Debian's dataset-fashion-mnist) and prints the
// test accuracy as its last line.
//
//   fashion_mnist [--model cnn|cnn-plain|mlp] [--optimizer adam|sgd] [--schedule cosine|constant]
//                 [--epochs N] [--batch B] [--lr LR] [--data DIR] [--limit N] [--seed S]
//                 [--run-dir DIR] [--normalize 1|0] [--device auto|cpu|cuda[:N]]
//
// cnn (the default): conv-BN-ReLU-pool x2, fc 128, dropout, fc 10; Adam 1e-3, cosine.
// cnn-plain: the same without batch norm and dropout; mlp: 784-512-256-10.
// With --run-dir the run keeps metrics.jsonl and a checkpoint there, and resumes from it.
// --device auto (the default) trains on the first GPU when there is one, else on the CPU;
// on a GPU the loader pins its batches and each is copied without blocking.
#include "cli_checks.h"
#include "data_parallel.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "anneal.h"

using namespace anneal;

namespace {

struct Args {
  std::string model = "cnn", optimizer = "adam", schedule = "cosine", data = "/usr/share/datasets/fashion-mnist";
  std::string run_dir, device = "auto";
  int64_t epochs = 5, batch = 128, limit = 0, normalize = 1;
  double lr = -1;  // the optimizer's usual rate: Adam 1e-3, SGD 0.1
  uint64_t seed = 0;
};

Args parse(int argc, char** argv) {
  Args a;
  CLI::App app{"Trains a classifier on Fashion-MNIST and prints the test accuracy as its last line.", "fashion_mnist"};
  app.add_option("--model", a.model, "cnn (conv-BN-ReLU-pool x2), cnn-plain (no BN/dropout) or mlp")
      ->check(CLI::IsMember({"cnn", "cnn-plain", "mlp"}));
  app.add_option("--optimizer", a.optimizer)->check(CLI::IsMember({"adam", "sgd"}));
  app.add_option("--schedule", a.schedule, "cosine decay over the run, or constant")
      ->check(CLI::IsMember({"cosine", "constant"}));
  app.add_option("--data", a.data, "folder of the IDX files");
  app.add_option("--run-dir", a.run_dir, "keep metrics.jsonl and a checkpoint here, and resume from it");
  app.add_option("--device", a.device, "auto (the first GPU when there is one), cpu or cuda[:N]");
  app.add_option("--epochs", a.epochs)->check(examples::whole_number_at_least(1));
  app.add_option("--batch", a.batch)->check(examples::whole_number_at_least(1));
  app.add_option("--limit", a.limit, "train on the first N images only (0: all)")->check(examples::whole_number_at_least(0));
  app.add_option("--lr", a.lr, "learning rate (default: Adam 1e-3, SGD 0.1)");
  app.add_option("--seed", a.seed);
  app.add_option("--normalize", a.normalize, "1: standardise the pixels, 0: scale to [0, 1]")->check(CLI::Range(0, 1));
  examples::parse_or_exit(app, argc, argv);
  if (a.lr < 0) a.lr = a.optimizer == "adam" ? 1e-3 : 0.1;
  return a;
}


// uint8 images [N, 28, 28] -> float [N, 1, 28, 28] in [0, 1], standardised unless
// --normalize 0 (then as torchvision's ToTensor alone)
Tensor prepare(const Tensor& images, bool normalize) {
  const double mean = 0.2860, std = 0.3530;  // Fashion-MNIST's pixel statistics
  Tensor x = images.to(DType::Float32) / 255.0;
  return (normalize ? (x - mean) / std : x).unsqueeze(1).contiguous();
}

std::shared_ptr<nn::Module> build_model(const std::string& kind) {
  if (kind == "mlp") return nn::make_model("mlp", {{"sizes", "784,512,256,10"}});
  if (kind == "cnn-plain") return nn::make_model("cnn");
  return nn::make_model("cnn", {{"batch_norm", "1"}, {"dropout", "0.25"}});
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse(argc, argv);
  try {
    const examples::DataParallel dp = examples::start_data_parallel();
    manual_seed(args.seed);  // the same on every rank; DDP copies rank 0's weights anyway
    const Device device(args.device == "auto" ? (cuda_is_available() ? "cuda:" + std::to_string(dp.local_rank) : "cpu")
                                              : args.device);
    if (dp.is_rank0())
      std::printf("device: %s%s\n", device.str().c_str(),
                  dp.on ? (", " + std::to_string(dp.world) + " ranks (data parallel)").c_str() : "");
    Tensor train_x = data::read_idx(args.data + "/train-images-idx3-ubyte.gz");
    Tensor train_y = data::read_idx(args.data + "/train-labels-idx1-ubyte.gz").to(DType::Int64);
    Tensor test_x = data::read_idx(args.data + "/t10k-images-idx3-ubyte.gz");
    Tensor test_y = data::read_idx(args.data + "/t10k-labels-idx1-ubyte.gz").to(DType::Int64);
    if (args.limit > 0) {
      train_x = train_x.narrow(0, 0, std::min(args.limit, train_x.size(0)));
      train_y = train_y.narrow(0, 0, train_x.size(0));
    }
    auto train_set = std::make_shared<data::TensorDataset>(prepare(train_x, args.normalize != 0), train_y);
    auto test_set = std::make_shared<data::TensorDataset>(prepare(test_x, args.normalize != 0), test_y);
    const bool pin = device.is_cuda();  // page-locked batches: asynchronous copies to the GPU
    data::DataLoaderOptions train_options{.batch_size = args.batch, .shuffle = true, .seed = args.seed, .pin_memory = pin};
    if (dp.on) {  // each rank takes its share of every (shuffled) global batch
      train_options.batch_size = examples::per_rank_batch(args.batch, dp);
      train_options.sampler = std::make_shared<data::DistributedSampler>(train_set->size(), dp.world, dp.rank, true, args.seed);
    }
    data::DataLoader train(train_set, train_options);
    data::DataLoader test(test_set, {.batch_size = 1000, .pin_memory = pin});

    auto net = build_model(args.model);
    net->to(device);  // before the optimizer is made, so its state lives there too
    if (dp.is_rank0()) std::printf("%s\n", net->to_string().c_str());
    auto model = examples::wrap(net, dp);
    std::unique_ptr<optim::Optimizer> opt;
    if (args.optimizer == "adam") opt = std::make_unique<optim::Adam>(model->parameters(), args.lr);
    else opt = std::make_unique<optim::SGD>(model->parameters(), args.lr, 0.9);
    // cosine decay of the learning rate over the whole run, stepped after every batch
    std::unique_ptr<optim::CosineAnnealingLR> cosine;
    if (args.schedule == "cosine")
      cosine = std::make_unique<optim::CosineAnnealingLR>(*opt, train.num_batches() * args.epochs);

    train::TrainerOptions options{.epochs = args.epochs, .log_every = 100};
    options.run_dir = args.run_dir;
    train::Trainer trainer(*model, *opt, train,
                           [device](nn::Module& m, const data::Batch& b) {
                             return cross_entropy(m(b.data.to(device, true)), b.target.to(device, true));
                           },
                           options);
    trainer.set_scheduler(cosine.get());
    trainer.set_evaluator([&](nn::Module& m) { return train::evaluate_classifier(m, test, device); });
    train::TrainResult result = trainer.fit();
    if (dp.is_rank0()) std::printf("test accuracy: %.2f%%\n", result.last_eval.at("test_accuracy"));
    if (dp.on) distributed::destroy_process_group();
  } catch (const std::exception& e) {  // anneal errors, and anything foreign, end the run with a message
    std::fprintf(stderr, "fashion_mnist: %s\n", e.what());
    return 1;
  }
  return 0;
}
