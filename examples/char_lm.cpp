// A character-level GPT on the King James Bible: trains on the first 90% of the text,
// reports the loss on the last 10% (nats per character), and samples text from the model.
// scripts/data.sh writes the text to datasets/kjv.txt.
//
//   char_lm [--data FILE] [--steps N] [--batch B] [--context T] [--layers L] [--heads H]
//           [--d-model C] [--dropout P] [--lr LR] [--weight-decay WD] [--eval-every N]
//           [--run-dir DIR] [--sample N] [--seed S] [--device auto|cpu|cuda[:N]] [--amp off|bf16]
//
// --device auto (the default) trains on the first GPU when there is one; --amp bf16 runs
// the products and attention in bfloat16 under autocast (float32 master weights).
// With --run-dir, metrics go to DIR/metrics.jsonl and checkpoints to DIR/checkpoint.ckpt;
// running the same command again resumes where it stopped.
#include "cli_checks.h"
#include "data_parallel.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "anneal.h"

using namespace anneal;

namespace {

struct Args {
  std::string data = "datasets/kjv.txt", run_dir, device = "auto", amp = "off";
  int64_t steps = 2000, batch = 32, context = 128, layers = 4, heads = 4, d_model = 128, eval_every = 500;
  int64_t sample = 400;
  double dropout = 0.0, lr = 3e-4, weight_decay = 0.01;
  uint64_t seed = 0;
};

Args parse(int argc, char** argv) {
  Args a;
  CLI::App app{"Trains a character-level GPT on the King James text, reports the validation loss and samples.",
               "char_lm"};
  app.add_option("--data", a.data, "the text (scripts/data.sh writes datasets/kjv.txt)");
  app.add_option("--run-dir", a.run_dir, "metrics and checkpoints here; the same command again resumes");
  app.add_option("--device", a.device, "auto (the first GPU when there is one), cpu or cuda[:N]");
  app.add_option("--amp", a.amp, "bf16: products and attention in bfloat16 under autocast")
      ->check(CLI::IsMember({"off", "bf16"}));
  app.add_option("--steps", a.steps)->check(examples::whole_number_at_least(1));
  app.add_option("--batch", a.batch)->check(examples::whole_number_at_least(1));
  app.add_option("--context", a.context)->check(examples::whole_number_at_least(1));
  app.add_option("--layers", a.layers)->check(examples::whole_number_at_least(1));
  app.add_option("--heads", a.heads)->check(examples::whole_number_at_least(1));
  app.add_option("--d-model", a.d_model)->check(examples::whole_number_at_least(1));
  app.add_option("--dropout", a.dropout)->check(CLI::Range(0.0, 1.0));
  app.add_option("--lr", a.lr)->check(examples::number_at_least(0));
  app.add_option("--weight-decay", a.weight_decay)->check(examples::number_at_least(0));
  app.add_option("--eval-every", a.eval_every)->check(examples::whole_number_at_least(0));
  app.add_option("--sample", a.sample, "characters to sample at the end")->check(examples::whole_number_at_least(0));
  app.add_option("--seed", a.seed);
  examples::parse_or_exit(app, argc, argv);
  return a;
}


// Mean loss over non-overlapping windows of the validation text (nats per character).
double validation_loss(nn::Module& model, const data::TextWindows& val, int64_t batch, Device device) {
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < val.size(); i += val.context()) starts.push_back(i);
  double total = 0;
  int64_t windows = 0;
  for (size_t s = 0; s < starts.size(); s += size_t(batch)) {
    std::vector<int64_t> idx(starts.begin() + s, starts.begin() + std::min(starts.size(), s + size_t(batch)));
    data::Batch b = val.get_batch(idx);
    Tensor logits = model(b.data.to(device, true));
    total += cross_entropy(logits.flatten(0, 1), b.target.to(device, true).flatten()).item<double>() *
             double(idx.size());
    windows += int64_t(idx.size());
  }
  return total / double(windows);
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse(argc, argv);
  try {
    const examples::DataParallel dp = examples::start_data_parallel();
    manual_seed(args.seed);
    const Device device(args.device == "auto" ? (cuda_is_available() ? "cuda:" + std::to_string(dp.local_rank) : "cpu")
                                              : args.device);
    // (float16 would also need a gradient scaler: bfloat16 has float32's range)
    ANNEAL_CHECK(args.amp == "off" || args.amp == "bf16", ValueError, "--amp must be off or bf16, got '", args.amp, "'");
    const bool amp = args.amp == "bf16";
    const DType low = DType::BFloat16;
    if (dp.is_rank0())
      std::printf("device: %s%s%s\n", device.str().c_str(), amp ? (", autocast " + args.amp).c_str() : "",
                  dp.on ? (", " + std::to_string(dp.world) + " ranks (data parallel)").c_str() : "");
    std::string text = data::read_text(args.data);
    auto vocab = data::CharVocab::from_text(text, args.data);
    Tensor tokens = vocab.encode(text).to(DType::Int32);
    const int64_t split = tokens.numel() * 9 / 10;  // the last 10% is the validation text
    auto train_set = std::make_shared<data::TextWindows>(tokens.slice(0, 0, split), args.context);
    data::TextWindows val_set(tokens.slice(0, split, tokens.numel()), args.context);
    if (dp.is_rank0()) std::printf("%zu characters, vocabulary %lld, %lld training windows\n", text.size(), (long long)vocab.size(),
                (long long)train_set->size());

    auto gpt = std::make_shared<nn::GPT>(nn::GPTConfig{.vocab_size = vocab.size(), .context = args.context, .n_layer = args.layers,
                   .n_head = args.heads, .d_model = args.d_model, .dropout = args.dropout});
    if (dp.is_rank0()) std::printf("%s\n", gpt->to_string().c_str());
    gpt->to(device);  // before the optimizer is made, so its state lives there too
    auto wrapped = examples::wrap(gpt, dp);
    nn::Module& model = *wrapped;
    optim::AdamW opt(model.parameters(), args.lr, 0.9, 0.999, 1e-8, args.weight_decay);
    data::DataLoaderOptions lo{.batch_size = args.batch, .shuffle = true, .seed = args.seed, .num_workers = 1,
                               .pin_memory = device.is_cuda()};
    if (dp.on) {  // each rank takes its share of every (shuffled) global batch
      lo.batch_size = examples::per_rank_batch(args.batch, dp);
      lo.sampler = std::make_shared<data::DistributedSampler>(train_set->size(), dp.world, dp.rank, true, args.seed);
    }
    data::DataLoader loader(train_set, lo);
    auto loss = [&](nn::Module& m, const data::Batch& b) {
      AutocastGuard autocast(device.type, low, amp);
      Tensor logits = m(b.data.to(device, true));  // [B, T, vocab]
      return cross_entropy(logits.flatten(0, 1), b.target.to(device, true).flatten());
    };
    train::TrainerOptions options{.max_steps = args.steps, .eval_every = args.eval_every,
                                  .checkpoint_every = args.eval_every, .log_every = 50};
    options.run_dir = args.run_dir;
    train::Trainer trainer(model, opt, loader, loss, options);
    trainer.set_evaluator([&](nn::Module& m) {
      AutocastGuard autocast(device.type, low, amp);
      return std::map<std::string, double>{{"val_loss", validation_loss(m, val_set, args.batch, device)}};
    });
    train::TrainResult result = trainer.fit();

    if (dp.is_rank0()) {
      gpt->eval();
      Generator gen(args.seed + 1);
      Tensor prompt = vocab.encode("And God said");
      std::printf("--- sample ---\n%s\n--------------\n",
                  vocab.decode(gpt->generate(prompt, args.sample, 0.8, 0, &gen)).c_str());
      std::printf("validation loss: %.4f nats/char after %lld steps\n", result.last_eval.at("val_loss"),
                  (long long)result.steps);
    }
    if (dp.on) distributed::destroy_process_group();
  } catch (const std::exception& e) {  // anneal errors, and anything foreign, end the run with a message
    std::fprintf(stderr, "char_lm: %s\n", e.what());
    if (std::string(e.what()).find("kjv.txt") != std::string::npos)
      std::fprintf(stderr, "char_lm: run scripts/data.sh to write datasets/kjv.txt\n");
    return 1;
  }
  return 0;
}
