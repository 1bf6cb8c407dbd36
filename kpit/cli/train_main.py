"""``python -m kpit.cli.train_main ...``: the trainer as a module, for ``deepspeed``,
``torchrun`` and ``accelerate launch``, which start one process per GPU."""

from kpit.cli.train import train

if __name__ == "__main__":
    train(prog_name="kpit train")
