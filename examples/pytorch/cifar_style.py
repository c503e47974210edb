"""The CIFAR-10 tutorial's network and loops, in PyTorch's idiom: SGD with momentum,
nn.CrossEntropyLoss, torch.max for predictions and an accuracy per class. The images are
MNIST digits padded to 3 × 32 × 32, CIFAR's shape (no CIFAR files here)."""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from mnist_files import load_mnist
from torch.utils.data import DataLoader, TensorDataset

classes = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def make_model():
    return Net()


def make_optimizer(model):
    return optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def as_cifar(images):
    """(N, 1, 28, 28) → (N, 3, 32, 32): padded by 2, the one channel three times."""
    padded = np.pad(images, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=images.min())
    return np.ascontiguousarray(np.repeat(padded, 3, axis=1))


def make_loaders(data_dir, limit, test_limit, batch_size, shuffle=True):
    images, labels = load_mnist(data_dir, train=True, limit=limit)
    trainset = TensorDataset(torch.tensor(as_cifar(images)), torch.tensor(labels))
    images, labels = load_mnist(data_dir, train=False, limit=test_limit)
    testset = TensorDataset(torch.tensor(as_cifar(images)), torch.tensor(labels))
    return (DataLoader(trainset, batch_size=batch_size, shuffle=shuffle),
            DataLoader(testset, batch_size=batch_size, shuffle=False))


def train_epoch(net, device, trainloader, optimizer, epoch=1):
    criterion = nn.CrossEntropyLoss()
    losses, running_loss = [], 0.0
    for i, data in enumerate(trainloader, 0):
        inputs, labels = data[0].to(device), data[1].to(device)
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        losses.append(loss.item())
        if i % 20 == 19:
            print(f"[{epoch}, {i + 1:5d}] loss: {running_loss / 20:.3f}")
            running_loss = 0.0
    return losses


def evaluate(net, device, testloader):
    correct_pred = {classname: 0 for classname in classes}
    total_pred = {classname: 0 for classname in classes}
    correct = total = 0
    with torch.no_grad():
        for data in testloader:
            images, labels = data[0].to(device), data[1].to(device)
            outputs = net(images)
            _, predictions = torch.max(outputs, 1)
            total += labels.size(0)
            correct += (predictions == labels).sum().item()
            for label, prediction in zip(labels, predictions):
                if label == prediction:
                    correct_pred[classes[label]] += 1
                total_pred[classes[label]] += 1
    for classname, correct_count in correct_pred.items():
        accuracy = 100 * float(correct_count) / max(total_pred[classname], 1)
        print(f"Accuracy for class: {classname:5s} is {accuracy:.1f} %")
    print(f"Accuracy of the network on the {total} test images: {100 * correct // total} %")
    return None, correct / total


def main(argv=None):
    parser = argparse.ArgumentParser(description="The CIFAR tutorial's loops on MNIST digits")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--test-limit", type=int, default=1000)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    trainloader, testloader = make_loaders(args.data_dir, args.limit, args.test_limit,
                                           args.batch_size)
    net = make_model()
    net.to(device)
    optimizer = make_optimizer(net)
    for epoch in range(args.epochs):
        train_epoch(net, device, trainloader, optimizer, epoch + 1)
    print("Finished Training")
    evaluate(net, device, testloader)


if __name__ == "__main__":
    main()
