"""A CNN with batch normalisation in PyTorch's idiom: nn.Sequential of Conv2d,
BatchNorm2d, ReLU and MaxPool2d, then BatchNorm1d on the features; Adam with
MultiStepLR; train() and eval() switch the batch statistics for the running ones."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from mnist_files import load_mnist
from torch.utils.data import DataLoader, TensorDataset


def make_model():
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 64), nn.BatchNorm1d(64), nn.ReLU(),
        nn.Linear(64, 10),
    )


def make_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=1e-3)


def make_loaders(data_dir, limit, test_limit, batch_size, shuffle=True):
    images, labels = load_mnist(data_dir, train=True, limit=limit)
    train = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
    images, labels = load_mnist(data_dir, train=False, limit=test_limit)
    test = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
    return (DataLoader(train, batch_size=batch_size, shuffle=shuffle, drop_last=True),
            DataLoader(test, batch_size=500))


def train_epoch(model, device, loader, optimizer, epoch=1):
    model.train()
    losses = []
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print(f"epoch {epoch}: mean training loss {sum(losses) / len(losses):.4f}")
    return losses


@torch.no_grad()
def evaluate(model, device, loader):
    model.eval()
    total_loss, correct = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(dim=1) == labels).sum().item()
    count = len(loader.dataset)
    print(f"test loss {total_loss / count:.4f}, accuracy {correct / count:.2%}")
    return total_loss / count, correct / count


def main(argv=None):
    parser = argparse.ArgumentParser(description="A CNN with batch normalisation")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--test-limit", type=int, default=1000)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train_loader, test_loader = make_loaders(args.data_dir, args.limit, args.test_limit,
                                             args.batch_size)
    model = make_model().to(device)
    optimizer = make_optimizer(model)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[1], gamma=0.3)
    for epoch in range(1, args.epochs + 1):
        train_epoch(model, device, train_loader, optimizer, epoch)
        evaluate(model, device, test_loader)
        scheduler.step()
    print("running mean of the first BatchNorm2d:",
          [round(v, 3) for v in model[1].running_mean[:4].tolist()])


if __name__ == "__main__":
    main()
