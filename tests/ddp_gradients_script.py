"""Run by tests/test_distributed.py, alone or under torchrun: one update's gradients of a tiny model on the
first batch, written by rank 0 to the safetensors file named by argv[2]. argv[1] is the model kind."""
import sys

from safetensors.torch import save_file

from samviz import tasks as tasks_module
from samviz.training import distributed
from samviz.training.config import TrainConfig
from samviz.training.trainer import Trainer

kind, out = sys.argv[1], sys.argv[2]
group = distributed.join_from_environment()
# jittered rows: from zero rows SAM's writes make exactly parallel rows (one word added to several empty slots),
# whose cosines tie and whose top-K order is then decided by rounding, which differs between a controller matmul
# over 4 episodes and one over 2 on some CPUs (an AMD EPYC: 1-5 % apart). tests/test_distributed.py.
config = TrainConfig.for_run(kind, "copy", memory_slots=16, word_size=8, controller_size=16, batch=4,
                             seed=5, initial_rows="jittered").validate()
trainer = Trainer(config, None, group=group)
whole = trainer.task.sample(batch_size=4, level=trainer.curriculum.sample_level(trainer.generator),
                            generator=trainer.generator)
if group is None:
    loss = tasks_module.loss(trainer.network(whole.inputs), whole)
else:
    part = distributed.share(whole, group)
    loss = distributed.share_loss(trainer.network(part.inputs), part, whole, group)
loss.backward()
if group is None or group.writes:
    save_file({name: p.grad.contiguous() for name, p in trainer.model.named_parameters()}, out)
distributed.leave(group, trainer)
