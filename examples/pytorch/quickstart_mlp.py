"""The quickstart tutorial's program in PyTorch's idiom: an MLP with nn.Flatten and
nn.Sequential, nn.CrossEntropyLoss, SGD, the accelerator check, and saving and loading
the weights with torch.save / torch.load(weights_only=True)."""
import argparse
import tempfile
from pathlib import Path

import torch
from mnist_files import load_mnist
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

batch_size = 64


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


def make_model():
    return NeuralNetwork()


def make_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=1e-2)


def make_loaders(data_dir, limit, test_limit, batch_size, shuffle=True):
    images, labels = load_mnist(data_dir, train=True, limit=limit)
    training_data = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
    images, labels = load_mnist(data_dir, train=False, limit=test_limit)
    test_data = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
    return (DataLoader(training_data, batch_size=batch_size, shuffle=shuffle),
            DataLoader(test_data, batch_size=batch_size))


def train_epoch(model, device, dataloader, optimizer, epoch=1):
    loss_fn = nn.CrossEntropyLoss()
    size = len(dataloader.dataset)
    model.train()
    losses = []
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)
        pred = model(X)
        loss = loss_fn(pred, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if batch % 10 == 0:
            loss, current = loss.item(), batch * batch_size + len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")
    return losses


def evaluate(model, device, dataloader):
    loss_fn = nn.CrossEntropyLoss()
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
    return test_loss, correct


def main(argv=None):
    parser = argparse.ArgumentParser(description="The quickstart MLP")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--test-limit", type=int, default=1000)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    device = (torch.accelerator.current_accelerator().type
              if torch.accelerator.is_available() else "cpu")
    print(f"Using {device} device")
    train_dataloader, test_dataloader = make_loaders(args.data_dir, args.limit,
                                                     args.test_limit, batch_size)
    model = make_model().to(device)
    print(model)
    optimizer = make_optimizer(model)
    for t in range(args.epochs):
        print(f"Epoch {t+1}\n-------------------------------")
        train_epoch(model, device, train_dataloader, optimizer, t + 1)
        evaluate(model, device, test_dataloader)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.pth"
        torch.save(model.state_dict(), path)
        print("Saved PyTorch Model State to model.pth")
        model = NeuralNetwork().to(device)
        model.load_state_dict(torch.load(path, weights_only=True))
    model.eval()
    x, y = test_dataloader.dataset[0][0], test_dataloader.dataset[0][1]
    with torch.no_grad():
        x = x.to(device)
        pred = model(x.unsqueeze(0))
        predicted, actual = pred[0].argmax(0), y
        print(f'Predicted: "{int(predicted)}", Actual: "{int(actual)}"')
    print("Done!")


if __name__ == "__main__":
    main()
