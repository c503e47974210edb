"""An MNIST CNN in the style of PyTorch's official MNIST example: two convolutions,
Dropout, Adadelta and StepLR, a test loop with argmax and eq. Runs under PyTorch as it is;
a test runs it on minigrad with only its imports changed."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from mnist_files import load_mnist
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def make_model():
    return Net()


def make_optimizer(model):
    return optim.Adadelta(model.parameters(), lr=1.0)


def make_loaders(data_dir, limit, test_limit, batch_size, shuffle=True):
    images, labels = load_mnist(data_dir, train=True, limit=limit)
    train_set = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
    images, labels = load_mnist(data_dir, train=False, limit=test_limit)
    test_set = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
    return (DataLoader(train_set, batch_size=batch_size, shuffle=shuffle),
            DataLoader(test_set, batch_size=1000))


def train_epoch(model, device, train_loader, optimizer, epoch=1, log_interval=10):
    model.train()
    losses = []
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if batch_idx % log_interval == 0:
            print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(train_loader.dataset)}]"
                  f"\tLoss: {loss.item():.6f}")
    return losses


def evaluate(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    accuracy = correct / len(test_loader.dataset)
    print(f"Test set: Average loss: {test_loss:.4f}, Accuracy: {correct}/"
          f"{len(test_loader.dataset)} ({100. * accuracy:.0f}%)")
    return test_loss, accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description="MNIST CNN, PyTorch's example style")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--test-limit", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_loader, test_loader = make_loaders(args.data_dir, args.limit, args.test_limit,
                                             args.batch_size)
    model = make_model().to(device)
    optimizer = make_optimizer(model)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    for epoch in range(1, args.epochs + 1):
        train_epoch(model, device, train_loader, optimizer, epoch)
        evaluate(model, device, test_loader)
        scheduler.step()


if __name__ == "__main__":
    main()
