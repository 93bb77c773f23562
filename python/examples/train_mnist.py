#!/usr/bin/env python3
"""The paper's MNIST CNN trained with Strict PC from Python, as the paper's Fig. 1
does (MSE on one-hot targets, eta = 0.1, n = 20, Adam at 0.002, batch 300):
Torch2PC's training loop with its one import changed to pcplay's.
  PYTHONPATH=build/native/python /usr/bin/python3 python/examples/train_mnist.py [--steps 300]
"""
import argparse
import time

import torch
from torch import nn

import pcplay
from pcplay.torch import PCInfer  # was: from TorchSeq2PC import PCInfer

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--steps", type=int, default=400)
parser.add_argument("--err", default="Strict", help="Strict, FixedPred, Exact or ePC")
args = parser.parse_args()

data = pcplay.load_data("mnist")  # numpy arrays, from the folder scripts/setup.sh fills
X, Y = torch.from_numpy(data["train_x"]), nn.functional.one_hot(torch.from_numpy(data["train_y"]), 10).float()
X_test, Y_test = torch.from_numpy(data["test_x"]), torch.from_numpy(data["test_y"])

torch.manual_seed(0)
model = nn.Sequential(
    nn.Sequential(nn.Conv2d(1, 10, 3), nn.ReLU(), nn.MaxPool2d(2)),
    nn.Sequential(nn.Conv2d(10, 5, 3), nn.ReLU(), nn.Flatten()),
    nn.Sequential(nn.Linear(605, 50), nn.ReLU()),
    nn.Sequential(nn.Linear(50, 30), nn.ReLU()),
    nn.Sequential(nn.Linear(30, 10)))
optimizer = torch.optim.Adam(model.parameters(), lr=0.002)
loss_fun = nn.MSELoss()

start = time.perf_counter()
for step in range(1, args.steps + 1):
    rows = torch.randint(0, len(Y), (300,))
    vhat, Loss, dLdy, v, epsilon = PCInfer(model, loss_fun, X[rows], Y[rows], args.err, eta=0.1, n=20)
    optimizer.step()
    if step % 50 == 0 or step == args.steps:
        with torch.no_grad():
            accuracy = (model(X_test).argmax(1) == Y_test).float().mean().item()
        print(f"step {step}: batch loss {Loss.item():.4f}, test accuracy {accuracy:.3f} "
              f"({time.perf_counter() - start:.1f} s)", flush=True)
