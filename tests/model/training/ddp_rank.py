"""One rank of the two-process test (started by torchrun): train, then save this rank's weights.

Usage: torchrun --nproc_per_node 2 ddp_rank.py DATA OUT WEIGHTS_PREFIX STEPS
"""
import sys

import torch

from model.training import distributed
from model.training.loop import Trainer
from model.training.progress import JsonLinesReporter
from model.training.run_config import TrainingOptions

data, out, prefix, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.set_num_threads(1)
ctx = distributed.start("cpu")
options = TrainingOptions(out=out, data=data, preset="tiny", steps=steps, workers=0, json_progress=True)
trainer = Trainer(options, ctx, JsonLinesReporter(sys.stdout))
first_batch = trainer.sampler.indices(0)
result = trainer.run()
torch.save({"generator": distributed.unwrap(trainer.generator).state_dict(),
            "discriminator": distributed.unwrap(trainer.discriminator).state_dict(),
            "first_batch": torch.tensor(first_batch), "step": result.step}, f"{prefix}{ctx.rank}.pt")
ctx.close()
