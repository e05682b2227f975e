"""Runs one case of the compatibility suite with one library: PyTorch itself, or anneal
behind anneal.torch_alias (so the program's `import torch` is anneal). The PyTorch run
writes the model's initial state dict; the anneal run loads it, so both start from the
same weights. Either run writes the losses of a few optimizer steps, the first step's
gradients and the final parameters to an .npz file.

    python3 runner.py CASE torch|anneal float32|float64 WORKDIR"""
import contextlib
import importlib.util
import io
import os
import sys
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CASE, LIB, DTYPE, WORK = sys.argv[1:5]
sys.path.insert(0, os.path.join(HERE, "stubs"))  # torchvision, which the programs import but need not use
if LIB == "anneal":
    import anneal.torch_alias
    anneal.torch_alias.install()
import torch  # noqa: E402  (PyTorch, or anneal under its name)
import torch.nn.functional as F  # noqa: E402


def program(rel):
    name = "program_" + rel.replace("/", "_").replace(".py", "")
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, "programs", rel))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    with contextlib.redirect_stdout(io.StringIO()):
        spec.loader.exec_module(mod)
    return mod


rng = np.random.default_rng(0)
T = lambda a: torch.tensor(a)  # noqa: E731
FLOAT = getattr(torch, DTYPE)


def floats(*shape):
    return T(rng.standard_normal(shape).astype(np.float32)).to(FLOAT)


def ints(high, *shape):
    return T(rng.integers(0, high, shape).astype(np.int64))


def case_mingpt():
    m = program("mingpt/model.py")
    cfg = m.GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, embd_pdrop=0.0, resid_pdrop=0.0,
                      attn_pdrop=0.0)
    model = m.GPT(cfg)
    idx, tgt = ints(11, 3, 8), ints(11, 3, 8)
    return model, lambda: model(idx, tgt)[1], lambda: torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)


def _rnn(kind, tie):
    m = program("word_language_model/model.py")
    model = m.RNNModel(kind, 13, 8, 8, 2, dropout=0.0, tie_weights=tie)
    data, tgt = ints(13, 5, 3), ints(13, 5, 3)

    def loss():
        hidden = model.init_hidden(3)
        out, hidden = model(data, hidden)
        return F.nll_loss(out, tgt.view(-1))
    return model, loss, lambda: torch.optim.SGD(model.parameters(), lr=0.5)


def case_wlm_lstm():
    return _rnn("LSTM", True)


def case_wlm_gru():
    return _rnn("GRU", False)


def case_wlm_rnn_tanh():
    return _rnn("RNN_TANH", False)


def case_wlm_transformer():
    m = program("word_language_model/model.py")
    model = m.TransformerModel(13, 8, 2, 16, 2, dropout=0.0)
    model.eval()  # (nn.Transformer's own dropout is 0.1; eval turns it off in both)
    data, tgt = ints(13, 6, 3), ints(13, 6, 3)
    # (SGD: the key projection's bias has an exactly zero gradient, whose rounding noise Adam
    # would scale up to full-size steps that differ in sign between any two libraries)
    return model, lambda: F.nll_loss(model(data).view(-1, 13), tgt.view(-1)), \
        lambda: torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def case_mnist():
    m = program("mnist/main.py")
    model = m.Net()
    model.eval()  # (its dropout layers draw masks; eval turns them off in both)
    x, y = floats(4, 1, 28, 28), ints(10, 4)
    return model, lambda: F.nll_loss(model(x), y), \
        lambda: torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)


def _nanogpt(**options):
    m = program("nanogpt/model.py")
    cfg = m.GPTConfig(block_size=8, vocab_size=11, n_layer=2, n_head=2, n_embd=16, dropout=0.0, **options)
    model = m.GPT(cfg)
    idx, tgt = ints(11, 3, 8), ints(11, 3, 8)
    # the program's own optimizer: AdamW over two parameter groups (decayed and not)
    return model, lambda: model(idx, tgt)[1], lambda: model.configure_optimizers(0.1, 3e-3, (0.9, 0.95), "cpu")


def case_nanogpt():
    return _nanogpt(bias=False)  # (its defaults: RMSNorm, ReLU, tied embedding and head)


def case_nanogpt_gpt2_style():
    return _nanogpt(bias=True, use_rmsnorm=False, use_relu=False)  # LayerNorm with bias, GELU


def case_time_sequence():
    m = program("time_sequence_prediction/train.py")
    model = m.Sequence()
    model.double()
    t = np.arange(12)[None, :] + rng.integers(0, 10, (3, 1))
    wave = torch.tensor(np.sin(t / 2.0))
    criterion = torch.nn.MSELoss()

    def loss():
        out = model(wave[:, :-1], future=2)
        return criterion(out[:, :-2], wave[:, 1:])
    return model, loss, lambda: torch.optim.SGD(model.parameters(), lr=0.5)


def case_vae():
    sys.path.insert(0, os.path.join(HERE, "programs", "pytorch_vae"))  # (it imports itself as `models`)
    with contextlib.redirect_stdout(io.StringIO()):
        import models
    model = models.VanillaVAE(3, 8)
    x = floats(2, 3, 64, 64)

    def loss():  # the decoder on the mean: the program's own forward draws the sampling noise
        mu, log_var = model.encode(x)
        return model.loss_function(model.decode(mu), x, mu, log_var, M_N=0.005)["loss"]
    # (SGD: its convolutions' biases feed batch norms, so their gradient is exactly zero and
    # Adam would scale each library's rounding noise up to full steps)
    return model, loss, lambda: torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def case_super_resolution():
    m = program("super_resolution/model.py")
    model = m.Net(upscale_factor=3)
    x, y = floats(2, 1, 8, 8), floats(2, 1, 24, 24)
    return model, lambda: torch.nn.MSELoss()(model(x), y), lambda: torch.optim.Adam(model.parameters(), lr=0.01)


def case_resnet_basic():
    m = program("pytorch_cifar/resnet.py")
    model = m.ResNet(m.BasicBlock, [1, 1, 1, 1])
    x, y = floats(2, 3, 32, 32), ints(10, 2)
    return model, lambda: F.cross_entropy(model(x), y), \
        lambda: torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)


def case_resnet18_preact():
    m = program("pytorch_cifar/resnet.py")
    model = m.ResNet18()
    x, y = floats(2, 3, 32, 32), ints(10, 2)
    return model, lambda: F.cross_entropy(model(m.Variable(x)), y), \
        lambda: torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)


def loops():
    """The programs' own loops: the MNIST example's test() over a DataLoader (eval mode, so
    its printed loss and accuracy must agree) and train() (dropout draws differ between
    libraries, so only that it runs and prints its log lines); nanoGPT's generate()."""
    m = program("mnist/main.py")
    model = m.Net()
    init = os.path.join(WORK, "init.npz")
    if LIB == "torch":
        np.savez(init, **{k: v.detach().numpy() for k, v in model.state_dict().items()})
    else:
        saved = np.load(init)
        model.load_state_dict({k: torch.tensor(saved[k]) for k in saved.files})
    x, y = floats(64, 1, 28, 28), ints(10, 64)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=False)
    args = types.SimpleNamespace(log_interval=2)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        m.test(args, model, "cpu", loader)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
        m.train(args, model, "cpu", torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16,
                                                                shuffle=True), opt, 1)
        g = program("nanogpt/model.py")
        gpt = g.GPT(g.GPTConfig(block_size=8, vocab_size=11, n_layer=1, n_head=2, n_embd=16))
        gpt.eval()
        tokens = gpt.generate(torch.zeros(2, 1, dtype=torch.long), 12)  # (its top_k path softmaxes over dim 0: NaN in PyTorch too)
    lines = out.getvalue().splitlines()
    with open(os.path.join(WORK, f"{LIB}.txt"), "w") as f:
        f.write("\n".join(line for line in lines if line.startswith("Test set")) + "\n")
        f.write(f"train log lines: {sum(1 for line in lines if line.startswith('Train Epoch'))}\n")
        f.write(f"generated: {tuple(tokens.shape)} in range: {bool((tokens >= 0).all() and (tokens < 11).all())}\n")


def main():
    if CASE == "loops":
        return loops()
    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):
        model, loss_fn, make_opt = globals()["case_" + CASE]()
    if DTYPE == "float64":
        model.double()
    init = os.path.join(WORK, "init.npz")
    if LIB == "torch":
        np.savez(init, **{k: v.detach().numpy() for k, v in model.state_dict().items()})
    else:
        saved = np.load(init)
        own = set(model.state_dict().keys())
        missing = own - set(saved.files)
        assert not missing, f"PyTorch's state dict lacks {sorted(missing)}"
        # (a program may register different buffers per library: nanoGPT's causal mask exists
        # only where scaled_dot_product_attention does not)
        model.load_state_dict({k: torch.tensor(saved[k]) for k in saved.files if k in own})
    opt = make_opt()
    start = {"start." + n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    losses, grads = [], {}
    for step in range(int(os.environ.get("COMPAT_STEPS", "3"))):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        if step == 0:
            grads = {"grad." + n: p.grad.detach().numpy().copy() for n, p in model.named_parameters()
                     if p.grad is not None}
        losses.append(loss.item())
        opt.step()
    final = {"param." + n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    np.savez(os.path.join(WORK, f"{LIB}.npz"), losses=np.array(losses), **grads, **final, **start)


if __name__ == "__main__":
    main()
