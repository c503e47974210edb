"""Gradient descent by hand, as PyTorch's "Learning PyTorch with Examples" writes it: an
nn.Sequential model, the loss's backward, then each parameter updated in place under
torch.no_grad() (``param -= learning_rate * param.grad``) and the gradients zeroed with
model.zero_grad(); no optimizer object."""
import argparse

import torch
from mnist_files import load_mnist
from torch.utils.data import DataLoader, TensorDataset

learning_rate = 0.05


def make_model():
    return torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(28 * 28, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )


def make_optimizer(model):
    return learning_rate  # the update below is written out by hand


def make_loaders(data_dir, limit, test_limit, batch_size, shuffle=True):
    images, labels = load_mnist(data_dir, train=True, limit=limit)
    train = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
    images, labels = load_mnist(data_dir, train=False, limit=test_limit)
    test = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
    return (DataLoader(train, batch_size=batch_size, shuffle=shuffle),
            DataLoader(test, batch_size=batch_size))


def train_epoch(model, device, dataloader, learning_rate, epoch=1):
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    losses = []
    for t, (x, y) in enumerate(dataloader):
        y_pred = model(x.to(device))
        loss = loss_fn(y_pred, y.to(device))
        if t % 10 == 9:
            print(t, loss.item())
        losses.append(loss.item())
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for param in model.parameters():
                param -= learning_rate * param.grad
    return losses


def evaluate(model, device, dataloader):
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in dataloader:
            correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
    accuracy = correct / len(dataloader.dataset)
    print(f"Accuracy: {100 * accuracy:.1f}%")
    return accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description="Gradient descent by hand")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--test-limit", type=int, default=1000)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    train_loader, test_loader = make_loaders(args.data_dir, args.limit, args.test_limit, 16)
    model = make_model()
    for epoch in range(args.epochs):
        print(f"Epoch {epoch + 1}")
        train_epoch(model, "cpu", train_loader, make_optimizer(model), epoch + 1)
        evaluate(model, "cpu", test_loader)


if __name__ == "__main__":
    main()
