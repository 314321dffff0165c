"""Training, used by the training CLI (`python -m samviz.train`); elsewhere samviz.checkpoint reads config.py's
bounds only (the sizes a checkpoint may hold are those a training run may have).

    config.py     TrainConfig: every setting, its defaults per task and model, its bounds, its CLI flags
    trainer.py    Trainer: updates, validation, the best checkpoint, the training loop
    state.py      the training state that --resume continues from (save, read, restore)
    progress.py   the status line

The curriculum is samviz.curriculum; the file formats (checkpoint, optimizer codec) are samviz.checkpoint.
"""
