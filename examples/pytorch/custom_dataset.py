"""Your own Dataset and DataLoader, in PyTorch's idiom: a Dataset subclass with
__len__ and __getitem__ (a transform, integer labels), random_split with a seeded
Generator, shuffling DataLoaders, a small network with ModuleList, SGD with Nesterov
momentum and weight decay, and LambdaLR."""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mnist_files import load_mnist
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, Dataset, random_split


class DigitsDataset(Dataset):
    """MNIST digits; each sample (image tensor, int label), cropped by ``transform``."""

    def __init__(self, data_dir, train=True, limit=None, transform=None):
        self.images, self.labels = load_mnist(data_dir, train=train, limit=limit)
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        image = torch.tensor(self.images[idx])
        if self.transform:
            image = self.transform(image)
        return image, int(self.labels[idx])


def center_crop(image):
    return image[:, 4:24, 4:24]


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1)])
        self.head = nn.Linear(16 * 5 * 5, 10)

    def forward(self, x):
        for conv in self.convs:
            x = F.max_pool2d(F.relu(conv(x)), 2)
        return self.head(x.view(x.size(0), -1))


def make_model():
    return SmallNet()


def make_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                           weight_decay=1e-4)


def make_loaders(data_dir, limit, test_limit, batch_size, shuffle=True):
    dataset = DigitsDataset(data_dir, train=True, limit=limit, transform=center_crop)
    generator = torch.Generator().manual_seed(42)
    train_set, val_set = random_split(dataset, [0.8, 0.2], generator=generator)
    if not shuffle:  # the same images in their order (the tests compare frameworks)
        train_set = dataset
    return (DataLoader(train_set, batch_size=batch_size, shuffle=shuffle, generator=generator),
            DataLoader(val_set, batch_size=256))


def train_epoch(model, device, loader, optimizer, epoch=1):
    model.train()
    losses = []
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print(f"epoch {epoch}: last loss {losses[-1]:.4f}")
    return losses


def evaluate(model, device, loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            predicted = model(images.to(device)).argmax(1)
            correct += int((predicted == labels.to(device)).sum())
            total += labels.numel()
    print(f"validation accuracy {correct / total:.2%} of {total}")
    return None, correct / total


def main(argv=None):
    parser = argparse.ArgumentParser(description="A Dataset of your own")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=2000)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    np.random.seed(0)
    train_loader, val_loader = make_loaders(args.data_dir, args.limit, None, args.batch_size)
    model = make_model()
    optimizer = make_optimizer(model)
    scheduler = LambdaLR(optimizer, lr_lambda=lambda epoch: 0.5 ** epoch)
    for epoch in range(1, args.epochs + 1):
        train_epoch(model, "cpu", train_loader, optimizer, epoch)
        evaluate(model, "cpu", val_loader)
        scheduler.step()
        print(f"learning rate now {scheduler.get_last_lr()[0]:.4f}")


if __name__ == "__main__":
    main()
